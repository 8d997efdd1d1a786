//! Placeholder until the full module lands (replaced on merge).
#[derive(Clone, Debug)]
pub struct PasswordPolicy { pub min_length: usize, pub max_length: usize }
impl Default for PasswordPolicy { fn default() -> Self { Self { min_length: 12, max_length: 128 } } }
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordProblem { TooShort { min: usize }, TooLong { max: usize }, Common, ContainsAccountName, ControlCharacter }
impl std::fmt::Display for PasswordProblem { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("weak password") } }
impl PasswordPolicy { pub fn check(&self, password: &str, _names: &[&str]) -> Result<(), PasswordProblem> { if password.chars().count() < self.min_length { Err(PasswordProblem::TooShort { min: self.min_length }) } else { Ok(()) } } }
