//! SMART on FHIR scopes (v2, with the v1 `read`/`write`/`*` suffixes accepted): what a token or
//! API key may do, read from the space-separated `scope` text of RFC 6749 §3.3.
//!
//! Scopes only ever narrow what a principal's role already allows; the core checks both.
//! Scope text comes from clients, so errors name the position of the offending scope, never its
//! text, and every refusal that could be read as "ignore and carry on" (granular `?param=`
//! restrictions, unknown resources) is an error instead, since ignoring it would widen access.

use std::fmt;

/// The longest scope text read, in bytes: far more than any real grant, and it bounds the work.
pub const MAX_SCOPE_TEXT_BYTES: usize = 2048;
/// The most scopes one text may list (before duplicates are merged).
pub const MAX_SCOPES: usize = 64;

/// Whose data a resource scope reaches: the patient in context, whatever the user may see, or a
/// backend service acting for no user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScopeContext {
    Patient,
    User,
    System,
}

impl ScopeContext {
    pub const ALL: [ScopeContext; 3] = [Self::Patient, Self::User, Self::System];

    /// The prefix as written before the `/`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::User => "user",
            Self::System => "system",
        }
    }

    fn from_prefix(prefix: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|context| context.as_str() == prefix)
    }
}

impl fmt::Display for ScopeContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The FHIR resource types Hale serves. A scope naming any other type is refused rather than
/// ignored, so a client learns at once that it asked for something it will never get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    Patient,
    Observation,
    QuestionnaireResponse,
    Questionnaire,
}

impl ResourceType {
    pub const ALL: [ResourceType; 4] = [
        Self::Patient,
        Self::Observation,
        Self::QuestionnaireResponse,
        Self::Questionnaire,
    ];

    /// The FHIR name, case-sensitive as FHIR writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "Patient",
            Self::Observation => "Observation",
            Self::QuestionnaireResponse => "QuestionnaireResponse",
            Self::Questionnaire => "Questionnaire",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|resource| resource.as_str() == name)
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The FHIR REST interactions a v2 scope grants, in the order scopes spell them (`cruds`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interaction {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Interaction {
    /// In canonical order: the order the letters must appear in a scope.
    pub const ALL: [Interaction; 5] = [
        Self::Create,
        Self::Read,
        Self::Update,
        Self::Delete,
        Self::Search,
    ];

    pub const fn letter(self) -> char {
        match self {
            Self::Create => 'c',
            Self::Read => 'r',
            Self::Update => 'u',
            Self::Delete => 'd',
            Self::Search => 's',
        }
    }

    const fn bit(self) -> u8 {
        match self {
            Self::Create => 1,
            Self::Read => 2,
            Self::Update => 4,
            Self::Delete => 8,
            Self::Search => 16,
        }
    }

    fn from_letter(letter: u8) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|interaction| interaction.letter() == char::from(letter))
    }
}

/// A set of interactions. Its `Display` is the canonical v2 suffix: the letters of `cruds` it
/// holds, in that order (empty for the empty set, which no parsed scope has).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct InteractionSet(u8);

impl InteractionSet {
    pub const EMPTY: InteractionSet = InteractionSet(0);
    /// What v1 `.read` means: read and search.
    pub const READ: InteractionSet = InteractionSet(2 | 16);
    /// What v1 `.write` means: create, update and delete.
    pub const WRITE: InteractionSet = InteractionSet(1 | 4 | 8);
    /// `cruds`, which is also what v1 `.*` means.
    pub const ALL: InteractionSet = InteractionSet(31);

    pub fn of(interactions: &[Interaction]) -> Self {
        interactions
            .iter()
            .fold(Self::EMPTY, |set, interaction| set.with(*interaction))
    }

    #[must_use]
    pub const fn with(self, interaction: Interaction) -> Self {
        Self(self.0 | interaction.bit())
    }

    #[must_use]
    pub const fn union(self, other: InteractionSet) -> Self {
        Self(self.0 | other.0)
    }

    pub const fn contains(self, interaction: Interaction) -> bool {
        self.0 & interaction.bit() != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Interaction> {
        Interaction::ALL
            .into_iter()
            .filter(move |interaction| self.contains(*interaction))
    }

    /// Reads a scope's suffix: v1 `read`, `write`, `*`, or v2 letters from `cruds`, at least one,
    /// in that order and each once.
    fn parse_suffix(suffix: &str) -> Option<Self> {
        match suffix {
            "read" => return Some(Self::READ),
            "write" => return Some(Self::WRITE),
            "*" => return Some(Self::ALL),
            _ => {}
        }
        let mut set = Self::EMPTY;
        let mut last: Option<Interaction> = None;
        for letter in suffix.bytes() {
            let interaction = Interaction::from_letter(letter)?;
            if last.is_some_and(|previous| previous >= interaction) {
                return None;
            }
            last = Some(interaction);
            set = set.with(interaction);
        }
        (!set.is_empty()).then_some(set)
    }
}

impl fmt::Display for InteractionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.iter()
            .try_for_each(|interaction| fmt::Write::write_char(f, interaction.letter()))
    }
}

impl fmt::Debug for InteractionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InteractionSet({self})")
    }
}

/// One resource scope: `context/Resource.interactions`, with `resource: None` for `*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    pub context: ScopeContext,
    pub resource: Option<ResourceType>,
    pub interactions: InteractionSet,
}

impl Scope {
    /// Whether this scope grants `interaction` on `resource` in `context`.
    pub fn grants(
        &self,
        context: ScopeContext,
        resource: ResourceType,
        interaction: Interaction,
    ) -> bool {
        self.context == context
            && self.resource.is_none_or(|named| named == resource)
            && self.interactions.contains(interaction)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.resource {
            Some(resource) => write!(f, "{}/{}.{}", self.context, resource, self.interactions),
            None => write!(f, "{}/*.{}", self.context, self.interactions),
        }
    }
}

/// The scopes Hale recognises that grant no resource access: they are kept, so the token
/// endpoint can see `openid` or `offline_access`, and ignored by [`Scopes::permits`].
pub const OTHER_SCOPES: [&str; 9] = [
    "openid",
    "profile",
    "email",
    "fhirUser",
    "offline_access",
    "online_access",
    "launch",
    "launch/patient",
    "launch/encounter",
];

/// Why a scope text was refused. Positions count scopes from 0; the text itself is never
/// repeated, since it comes from the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("the scope text is longer than {MAX_SCOPE_TEXT_BYTES} bytes")]
    TooLong,
    #[error("the scope text lists more than {MAX_SCOPES} scopes")]
    TooMany,
    #[error("the scope text lists no scope")]
    Empty,
    #[error(
        "the scope at index {index} is malformed: expected context/Resource.interactions, \
         with interactions a subset of cruds in that order, or read, write or *"
    )]
    Malformed { index: usize },
    #[error(
        "the scope at index {index} names a resource type this server does not serve \
         (Patient, Observation, Questionnaire, QuestionnaireResponse or *)"
    )]
    UnknownResource { index: usize },
    #[error(
        "the scope at index {index} has an unknown context: expected patient/, user/ or system/"
    )]
    UnknownContext { index: usize },
    #[error(
        "the scope at index {index} restricts by search parameters (?param=), which this \
         server does not support: request the scope without the restriction"
    )]
    Granular { index: usize },
    #[error("the scope at index {index} is not a scope this server recognises")]
    Unrecognised { index: usize },
}

impl ScopeError {
    /// The position of the refused scope, for errors about one scope.
    pub const fn index(&self) -> Option<usize> {
        match *self {
            Self::TooLong | Self::TooMany | Self::Empty => None,
            Self::Malformed { index }
            | Self::UnknownResource { index }
            | Self::UnknownContext { index }
            | Self::Granular { index }
            | Self::Unrecognised { index } => Some(index),
        }
    }
}

/// A parsed, canonical set of scopes: resource scopes merged per (context, resource) and sorted,
/// then the other recognised scopes, sorted and without repeats. So two texts granting the same
/// scopes in another order or spelling (v1 or v2, repeated) compare equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scopes {
    unrestricted: bool,
    resource: Vec<Scope>,
    other: Vec<&'static str>,
}

impl Scopes {
    /// Reads a space-separated scope list (RFC 6749 §3.3). Runs of spaces are tolerated; any
    /// other white space is part of a scope and makes it malformed. Text with no scope at all
    /// is refused: "no restriction" is [`Scopes::unrestricted`], never an empty string.
    pub fn parse(text: &str) -> Result<Scopes, ScopeError> {
        if text.len() > MAX_SCOPE_TEXT_BYTES {
            return Err(ScopeError::TooLong);
        }
        let mut scopes = Scopes {
            unrestricted: false,
            resource: Vec::new(),
            other: Vec::new(),
        };
        let mut count = 0;
        for (index, token) in text
            .split(' ')
            .filter(|token| !token.is_empty())
            .enumerate()
        {
            count = index + 1;
            if count > MAX_SCOPES {
                return Err(ScopeError::TooMany);
            }
            match parse_token(token, index)? {
                Token::Resource(scope) => scopes.resource.push(scope),
                Token::Other(name) => scopes.other.push(name),
            }
        }
        if count == 0 {
            return Err(ScopeError::Empty);
        }
        scopes.canonicalise();
        Ok(scopes)
    }

    /// Builds a scope set from resource scopes, merged and sorted like parsed ones; scopes with
    /// no interaction are dropped, since they grant nothing.
    pub fn from_scopes(resource_scopes: impl IntoIterator<Item = Scope>) -> Scopes {
        let mut scopes = Scopes {
            unrestricted: false,
            resource: resource_scopes.into_iter().collect(),
            other: Vec::new(),
        };
        scopes.canonicalise();
        scopes
    }

    /// What a credential issued without scopes holds: it narrows nothing, so the principal's
    /// role alone decides. It has no scope text (its `Display` is empty): store it as the
    /// absence of scopes.
    pub fn unrestricted() -> Scopes {
        Scopes {
            unrestricted: true,
            resource: Vec::new(),
            other: Vec::new(),
        }
    }

    pub fn is_unrestricted(&self) -> bool {
        self.unrestricted
    }

    /// Whether some resource scope of exactly this context names `resource` (or `*`) and
    /// includes `interaction`. Contexts do not imply one another: the core chooses the context
    /// a request runs in.
    pub fn permits(
        &self,
        context: ScopeContext,
        resource: ResourceType,
        interaction: Interaction,
    ) -> bool {
        self.unrestricted
            || self
                .resource
                .iter()
                .any(|scope| scope.grants(context, resource, interaction))
    }

    /// Whether a `*` scope of this context includes `interaction`: the test for Hale actions
    /// that touch no single FHIR resource (administration, configuration), which a scope naming
    /// one resource type must not reach.
    pub fn permits_any_resource(&self, context: ScopeContext, interaction: Interaction) -> bool {
        self.unrestricted
            || self.resource.iter().any(|scope| {
                scope.context == context
                    && scope.resource.is_none()
                    && scope.interactions.contains(interaction)
            })
    }

    /// The resource scopes, canonical: one per (context, resource), sorted. Empty for
    /// [`Scopes::unrestricted`], which needs none.
    pub fn resource_scopes(&self) -> &[Scope] {
        &self.resource
    }

    /// The recognised non-resource scopes (`openid`, `offline_access`, …), sorted.
    pub fn other_scopes(&self) -> &[&'static str] {
        &self.other
    }

    /// Whether a non-resource scope such as `offline_access` was granted.
    pub fn includes_other(&self, name: &str) -> bool {
        self.other.contains(&name)
    }

    fn canonicalise(&mut self) {
        self.resource.retain(|scope| !scope.interactions.is_empty());
        self.resource
            .sort_by_key(|scope| (scope.context, scope.resource));
        self.resource.dedup_by(|later, kept| {
            let same = later.context == kept.context && later.resource == kept.resource;
            if same {
                kept.interactions = kept.interactions.union(later.interactions);
            }
            same
        });
        self.other.sort_unstable();
        self.other.dedup();
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resource = self.resource.iter().map(|scope| scope as &dyn fmt::Display);
        let other = self.other.iter().map(|name| name as &dyn fmt::Display);
        for (position, scope) in resource.chain(other).enumerate() {
            if position > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{scope}")?;
        }
        Ok(())
    }
}

enum Token {
    Resource(Scope),
    Other(&'static str),
}

fn parse_token(token: &str, index: usize) -> Result<Token, ScopeError> {
    if let Some(name) = OTHER_SCOPES.into_iter().find(|name| *name == token) {
        return Ok(Token::Other(name));
    }
    let Some((prefix, rest)) = token.split_once('/') else {
        return Err(ScopeError::Unrecognised { index });
    };
    let Some(context) = ScopeContext::from_prefix(prefix) else {
        return Err(if prefix == "launch" {
            ScopeError::Unrecognised { index }
        } else {
            ScopeError::UnknownContext { index }
        });
    };
    let Some((resource_name, suffix)) = rest.split_once('.') else {
        return Err(ScopeError::Malformed { index });
    };
    let resource = match resource_name {
        "*" => None,
        name => match ResourceType::from_name(name) {
            Some(resource) => Some(resource),
            None if looks_like_resource_name(name) => {
                return Err(ScopeError::UnknownResource { index });
            }
            None => return Err(ScopeError::Malformed { index }),
        },
    };
    let (letters, restriction) = match suffix.split_once('?') {
        Some((letters, restriction)) => (letters, Some(restriction)),
        None => (suffix, None),
    };
    let interactions =
        InteractionSet::parse_suffix(letters).ok_or(ScopeError::Malformed { index })?;
    if restriction.is_some() {
        return Err(ScopeError::Granular { index });
    }
    Ok(Token::Resource(Scope {
        context,
        resource,
        interactions,
    }))
}

/// FHIR resource type names are an upper-case letter followed by letters.
fn looks_like_resource_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|first| first.is_ascii_uppercase())
        && bytes.all(|byte| byte.is_ascii_alphabetic())
}

#[cfg(test)]
#[path = "scope_tests.rs"]
mod tests;
