//! A small, table-driven subset of UCUM (the Unified Code for Units of Measure): the atoms and
//! prefixes Hale records vital signs in, a parser for simple compound codes such as `mg/dL`,
//! `kg/m2` or `{beats}/min`, and conversion between commensurable units.
//!
//! Every unit is reduced to a factor and a dimension vector over the base quantities, so a
//! conversion factor is never written down twice: `[lb_av]` → `kg` follows from the pound's
//! definition in grams and the kilo prefix.
//!
//! Two deliberate departures from full UCUM:
//! - UCUM treats the mole as a plain number (6.02214076 × 10²³). Here amount of substance is its
//!   own base quantity, so `mg/dL` and `mmol/L` are *not* commensurable on their own; bridging
//!   them needs the analyte's molar mass, which [`convert_with_analyte`] makes explicit.
//! - Parentheses, `10*n` powers of ten and most of the UCUM atom table are not supported; an
//!   unknown code is an error rather than a guess.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a unit code could not be understood or a conversion could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// The code is empty or not well-formed UCUM (as far as this subset understands it).
    #[error("`{code}` is not a valid UCUM unit: {reason}")]
    Syntax {
        /// The code as given.
        code: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A symbol in the code is not in Hale's UCUM table.
    #[error("`{symbol}` in `{code}` is not a UCUM unit Hale knows")]
    UnknownUnit {
        /// The code as given.
        code: String,
        /// The unrecognised symbol.
        symbol: String,
    },
    /// The two units measure different kinds of quantity.
    #[error("cannot convert `{from}` to `{to}`: they measure different kinds of quantity")]
    Incommensurable {
        /// The source unit.
        from: String,
        /// The target unit.
        to: String,
    },
    /// A mass concentration and a substance concentration were given without an analyte, so
    /// there is no molar mass to bridge them.
    #[error("converting `{from}` to `{to}` needs the analyte's molar mass")]
    MolarMassRequired {
        /// The source unit.
        from: String,
        /// The target unit.
        to: String,
    },
    /// The value to convert is NaN or infinite.
    #[error("the value to convert is not a finite number")]
    NonFiniteValue,
    /// The LOINC code is not in the vital-signs catalogue.
    #[error("`{code}` is not a LOINC code in Hale's vital-signs catalogue")]
    UnknownVital {
        /// The LOINC code as given.
        code: String,
    },
    /// The unit is valid UCUM but not one a user may record this vital sign in.
    #[error("`{unit}` is not an accepted unit for LOINC {code}")]
    UnitNotAccepted {
        /// The LOINC code of the vital sign.
        code: &'static str,
        /// The unit as given.
        unit: String,
    },
}

/// Exponents of the base quantities Hale's units are built from. UCUM's base for mass is the
/// gram, not the kilogram, and this table follows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dimension {
    /// Length, in metres (`m`).
    pub length: i32,
    /// Mass, in grams (`g`).
    pub mass: i32,
    /// Time, in seconds (`s`).
    pub time: i32,
    /// Thermodynamic temperature, in kelvin (`K`).
    pub temperature: i32,
    /// Amount of substance, in moles (`mol`); a base quantity here, unlike in UCUM.
    pub amount: i32,
}

impl Dimension {
    /// A pure number, such as `%` or a count per nothing.
    pub const DIMENSIONLESS: Dimension = Dimension::new(0, 0, 0, 0, 0);

    /// Builds a dimension from exponents in the order length, mass, time, temperature, amount.
    pub const fn new(length: i32, mass: i32, time: i32, temperature: i32, amount: i32) -> Self {
        Dimension {
            length,
            mass,
            time,
            temperature,
            amount,
        }
    }

    fn exponents(self) -> [i32; 5] {
        [
            self.length,
            self.mass,
            self.time,
            self.temperature,
            self.amount,
        ]
    }

    fn from_exponents([length, mass, time, temperature, amount]: [i32; 5]) -> Self {
        Dimension::new(length, mass, time, temperature, amount)
    }

    /// `self · other^power`, or `None` if an exponent would overflow.
    fn times_power_of(self, other: Dimension, power: i32) -> Option<Dimension> {
        let mut result = self.exponents();
        for (slot, exponent) in result.iter_mut().zip(other.exponents()) {
            *slot = slot.checked_add(exponent.checked_mul(power)?)?;
        }
        Some(Dimension::from_exponents(result))
    }

    /// `self / other`, exponent by exponent.
    fn divided_by(self, other: Dimension) -> Option<Dimension> {
        self.times_power_of(other, -1)
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = ["m", "g", "s", "K", "mol"];
        let mut wrote_any = false;
        for (name, exponent) in names.iter().zip(self.exponents()) {
            if exponent == 0 {
                continue;
            }
            if wrote_any {
                f.write_str(".")?;
            }
            write!(f, "{name}")?;
            if exponent != 1 {
                write!(f, "{exponent}")?;
            }
            wrote_any = true;
        }
        if !wrote_any {
            f.write_str("1")?;
        }
        Ok(())
    }
}

const LENGTH: Dimension = Dimension::new(1, 0, 0, 0, 0);
const MASS: Dimension = Dimension::new(0, 1, 0, 0, 0);
const TIME: Dimension = Dimension::new(0, 0, 1, 0, 0);
const TEMPERATURE: Dimension = Dimension::new(0, 0, 0, 1, 0);
const AMOUNT: Dimension = Dimension::new(0, 0, 0, 0, 1);
const VOLUME: Dimension = Dimension::new(3, 0, 0, 0, 0);
const PRESSURE: Dimension = Dimension::new(-1, 1, -2, 0, 0);
/// What separates a mass concentration from a substance concentration (and vice versa).
const MASS_PER_AMOUNT: Dimension = Dimension::new(0, 1, 0, 0, -1);
const AMOUNT_PER_MASS: Dimension = Dimension::new(0, -1, 0, 0, 1);

/// One pascal in base units (g·m⁻¹·s⁻²): the base mass unit is the gram, not the kilogram.
const PASCAL: f64 = 1000.0;
/// The international avoirdupois pound, defined as exactly 453.59237 g.
const POUND_GRAMS: f64 = 453.592_37;
/// The international inch, defined as exactly 2.54 cm.
const INCH_METRES: f64 = 0.0254;

/// How an atom maps onto base units.
#[derive(Clone, Copy, Debug)]
enum Scale {
    /// `base = value × factor`.
    Proportional(f64),
    /// `base = value × factor + offset`: the temperature scales whose zero is not absolute zero.
    /// UCUM calls these special units; they cannot be prefixed or combined with other units.
    Offset { factor: f64, offset: f64 },
}

/// One UCUM atom: a unit symbol that is not built from others in the code.
#[derive(Clone, Copy, Debug)]
struct Atom {
    symbol: &'static str,
    /// Whether SI prefixes may be put in front of it (UCUM's "metric" flag).
    metric: bool,
    scale: Scale,
    dimension: Dimension,
}

const fn atom(symbol: &'static str, metric: bool, factor: f64, dimension: Dimension) -> Atom {
    Atom {
        symbol,
        metric,
        scale: Scale::Proportional(factor),
        dimension,
    }
}

/// The atoms Hale understands, with values from the UCUM specification.
const ATOMS: &[Atom] = &[
    atom("m", true, 1.0, LENGTH),
    atom("g", true, 1.0, MASS),
    atom("s", true, 1.0, TIME),
    atom("K", true, 1.0, TEMPERATURE),
    atom("mol", true, 1.0, AMOUNT),
    atom("min", false, 60.0, TIME),
    atom("h", false, 3600.0, TIME),
    atom("d", false, 86_400.0, TIME),
    // UCUM defines both spellings of the litre as one cubic decimetre.
    atom("L", true, 1e-3, VOLUME),
    atom("l", true, 1e-3, VOLUME),
    atom("Pa", true, PASCAL, PRESSURE),
    // UCUM: 1 m[Hg] = 133.3220 kPa, so mm[Hg] is the metric prefix applied to this atom.
    atom("m[Hg]", true, 133.322 * 1000.0 * PASCAL, PRESSURE),
    atom("[in_i]", false, INCH_METRES, LENGTH),
    atom("[ft_i]", false, 12.0 * INCH_METRES, LENGTH),
    atom("[lb_av]", false, POUND_GRAMS, MASS),
    atom("[oz_av]", false, POUND_GRAMS / 16.0, MASS),
    atom("%", false, 0.01, Dimension::DIMENSIONLESS),
    Atom {
        symbol: "Cel",
        metric: false,
        scale: Scale::Offset {
            factor: 1.0,
            offset: 273.15,
        },
        dimension: TEMPERATURE,
    },
    // UCUM: K = (°F + 459.67) × 5/9.
    Atom {
        symbol: "[degF]",
        metric: false,
        scale: Scale::Offset {
            factor: 5.0 / 9.0,
            offset: 459.67 * 5.0 / 9.0,
        },
        dimension: TEMPERATURE,
    },
];

/// SI prefixes. `da` comes first because it is the only two-letter one and must win over `d`.
const PREFIXES: &[(&str, f64)] = &[
    ("da", 1e1),
    ("G", 1e9),
    ("M", 1e6),
    ("k", 1e3),
    ("h", 1e2),
    ("d", 1e-1),
    ("c", 1e-2),
    ("m", 1e-3),
    ("u", 1e-6),
    ("n", 1e-9),
    ("p", 1e-12),
    ("f", 1e-15),
];

/// A parsed UCUM unit: how to get from a value in this unit to base units and back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unit {
    factor: f64,
    offset: f64,
    dimension: Dimension,
}

impl Unit {
    /// Parses a UCUM code (case-sensitive, as UCUM's c/s form is).
    pub fn parse(code: &str) -> Result<Unit, UnitError> {
        parse(code)
    }

    /// The dimension vector over Hale's base quantities.
    pub fn dimension(&self) -> Dimension {
        self.dimension
    }

    /// Whether values in this unit can be converted to `other` without extra information.
    pub fn is_commensurable_with(&self, other: &Unit) -> bool {
        self.dimension == other.dimension
    }

    /// The value expressed in base units (g, m, s, K, mol).
    pub(crate) fn base_value(self, value: f64) -> f64 {
        value * self.factor + self.offset
    }

    /// A value in base units expressed in this unit.
    pub(crate) fn value_from_base(self, base: f64) -> f64 {
        (base - self.offset) / self.factor
    }
}

fn syntax(code: &str, reason: &'static str) -> UnitError {
    UnitError::Syntax {
        code: code.to_owned(),
        reason,
    }
}

/// Splits a code into its components at top-level `.` and `/`, leaving brackets and braces
/// intact. The first component's operator is `.` unless the code starts with `/`.
fn components(code: &str) -> Result<Vec<(bool, &str)>, UnitError> {
    let mut parts = Vec::new();
    let mut depth_square = 0u32;
    let mut in_annotation = false;
    let mut start = 0;
    let mut divide = false;
    for (index, character) in code.char_indices() {
        match character {
            '{' if !in_annotation => in_annotation = true,
            '}' if in_annotation => in_annotation = false,
            '{' | '}' => return Err(syntax(code, "unbalanced annotation braces")),
            _ if in_annotation => {}
            '[' => depth_square += 1,
            ']' => {
                depth_square = depth_square
                    .checked_sub(1)
                    .ok_or_else(|| syntax(code, "unbalanced square brackets"))?;
            }
            '(' | ')' => return Err(syntax(code, "parentheses are not supported")),
            '.' | '/' if depth_square == 0 => {
                let part = &code[start..index];
                if part.is_empty() && !(index == 0 && character == '/') {
                    return Err(syntax(code, "empty unit between operators"));
                }
                if !part.is_empty() {
                    parts.push((divide, part));
                }
                divide = character == '/';
                start = index + character.len_utf8();
            }
            _ => {}
        }
    }
    if in_annotation {
        return Err(syntax(code, "unbalanced annotation braces"));
    }
    if depth_square != 0 {
        return Err(syntax(code, "unbalanced square brackets"));
    }
    let last = &code[start..];
    if last.is_empty() {
        return Err(syntax(code, "code ends with an operator"));
    }
    parts.push((divide, last));
    Ok(parts)
}

/// One component after stripping its annotation and exponent.
enum Component<'a> {
    /// A bare annotation such as `{beats}`, or a positive integer factor: a pure number.
    Number(f64),
    /// A symbol with an integer exponent.
    Symbol(&'a str, i32),
}

fn component<'a>(code: &str, text: &'a str) -> Result<Component<'a>, UnitError> {
    // Annotations are labels for people ("{beats}") and carry no quantity.
    let text = match text.find('{') {
        Some(open) if text.ends_with('}') => &text[..open],
        Some(_) => return Err(syntax(code, "an annotation must end its component")),
        None => text,
    };
    if text.is_empty() {
        return Ok(Component::Number(1.0));
    }
    if text.bytes().all(|byte| byte.is_ascii_digit()) {
        let number: f64 = text
            .parse()
            .map_err(|_| syntax(code, "unreadable numeric factor"))?;
        return Ok(Component::Number(number));
    }
    let digits_start = text
        .rfind(|character: char| !character.is_ascii_digit())
        .map_or(0, |index| index + 1);
    if digits_start == text.len() {
        return Ok(Component::Symbol(text, 1));
    }
    let sign_start = match text[..digits_start].chars().last() {
        Some('+' | '-') => digits_start - 1,
        _ => digits_start,
    };
    let symbol = &text[..sign_start];
    if symbol.is_empty() {
        return Err(syntax(code, "exponent without a unit"));
    }
    let exponent: i32 = text[sign_start..]
        .parse()
        .map_err(|_| syntax(code, "exponent out of range"))?;
    Ok(Component::Symbol(symbol, exponent))
}

/// Resolves a symbol to an atom, with the factor of any SI prefix. An exact atom match wins, so
/// `min` is minutes and never milli-inches, and `Pa` is pascal, never peta-year.
fn resolve(code: &str, symbol: &str) -> Result<(f64, &'static Atom), UnitError> {
    if let Some(found) = ATOMS.iter().find(|atom| atom.symbol == symbol) {
        return Ok((1.0, found));
    }
    for (prefix, factor) in PREFIXES {
        if let Some(rest) = symbol.strip_prefix(prefix)
            && let Some(found) = ATOMS.iter().find(|atom| atom.symbol == rest && atom.metric)
        {
            return Ok((*factor, found));
        }
    }
    Err(UnitError::UnknownUnit {
        code: code.to_owned(),
        symbol: symbol.to_owned(),
    })
}

fn parse(code: &str) -> Result<Unit, UnitError> {
    if code.is_empty() {
        return Err(syntax(code, "empty code"));
    }
    // UCUM codes (annotations included) are printable ASCII without spaces; checking that up
    // front also lets the rest of the parser index by byte safely.
    if !code.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(syntax(
            code,
            "only printable ASCII without spaces is allowed",
        ));
    }
    let parts = components(code)?;
    let mut factor = 1.0_f64;
    let mut dimension = Dimension::DIMENSIONLESS;
    let overflow = || syntax(code, "exponent out of range");
    for &(divide, text) in &parts {
        let sign = if divide { -1 } else { 1 };
        match component(code, text)? {
            Component::Number(number) => {
                factor = if divide {
                    factor / number
                } else {
                    factor * number
                };
            }
            Component::Symbol(symbol, exponent) => {
                let (prefix, atom) = resolve(code, symbol)?;
                let power = exponent.checked_mul(sign).ok_or_else(overflow)?;
                match atom.scale {
                    Scale::Proportional(atom_factor) => {
                        factor *= (prefix * atom_factor).powi(power);
                        dimension = dimension
                            .times_power_of(atom.dimension, power)
                            .ok_or_else(overflow)?;
                    }
                    Scale::Offset {
                        factor: atom_factor,
                        offset,
                    } => {
                        // An offset scale only means something on its own: "Cel/min" would be
                        // a rate of temperature *difference*, which UCUM spells with K.
                        if parts.len() != 1 || power != 1 {
                            return Err(syntax(
                                code,
                                "Cel and [degF] cannot be combined with other units",
                            ));
                        }
                        return Ok(Unit {
                            factor: atom_factor,
                            offset,
                            dimension: atom.dimension,
                        });
                    }
                }
            }
        }
    }
    if !factor.is_finite() || factor == 0.0 {
        return Err(syntax(code, "magnitude out of range"));
    }
    Ok(Unit {
        factor,
        offset: 0.0,
        dimension,
    })
}

/// A substance whose molar mass lets mass and substance concentrations be converted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Analyte {
    /// D-glucose, C₆H₁₂O₆.
    Glucose,
}

impl Analyte {
    /// Molar mass in g/mol.
    pub const fn molar_mass_grams_per_mole(self) -> f64 {
        match self {
            Analyte::Glucose => 180.156,
        }
    }
}

/// Converts `value` from one UCUM unit to another commensurable one.
///
/// Refuses incommensurable units, including mass ↔ substance concentration; use
/// [`convert_with_analyte`] for those.
pub fn convert(value: f64, from: &str, to: &str) -> Result<f64, UnitError> {
    convert_with_analyte(value, from, to, None)
}

/// Converts `value` from one UCUM unit to another, bridging mass and substance (e.g. `mg/dL` ↔
/// `mmol/L`) through the analyte's molar mass when one is given. The analyte is ignored when
/// the units are directly commensurable.
pub fn convert_with_analyte(
    value: f64,
    from: &str,
    to: &str,
    analyte: Option<Analyte>,
) -> Result<f64, UnitError> {
    if !value.is_finite() {
        return Err(UnitError::NonFiniteValue);
    }
    let source = parse(from)?;
    let target = parse(to)?;
    // The same unit converts to itself exactly: going through the base unit and back would
    // turn 36.6 Cel into 36.600000000000023.
    if from == to {
        return Ok(value);
    }
    let base = source.base_value(value);
    let bridged = if source.is_commensurable_with(&target) {
        base
    } else {
        let difference = source.dimension.divided_by(target.dimension);
        let incommensurable = || UnitError::Incommensurable {
            from: from.to_owned(),
            to: to.to_owned(),
        };
        if difference != Some(MASS_PER_AMOUNT) && difference != Some(AMOUNT_PER_MASS) {
            return Err(incommensurable());
        }
        let Some(analyte) = analyte else {
            return Err(UnitError::MolarMassRequired {
                from: from.to_owned(),
                to: to.to_owned(),
            });
        };
        let molar_mass = analyte.molar_mass_grams_per_mole();
        if difference == Some(MASS_PER_AMOUNT) {
            base / molar_mass
        } else {
            base * molar_mass
        }
    };
    let converted = target.value_from_base(bridged);
    if converted.is_finite() {
        Ok(converted)
    } else {
        Err(UnitError::NonFiniteValue)
    }
}

#[cfg(test)]
mod tests;
