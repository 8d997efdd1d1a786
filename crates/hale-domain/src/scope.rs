//! Placeholder for SMART scopes until the full parser lands (replaced on merge).
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeContext { Patient, User, System }
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceType { Patient, Observation, QuestionnaireResponse, Questionnaire }
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interaction { Create, Read, Update, Delete, Search }
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Scopes { text: Option<String> }
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeError;
impl fmt::Display for ScopeError { fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str("malformed scope") } }
impl Scopes {
    pub fn parse(text: &str) -> Result<Scopes, ScopeError> { Ok(Scopes { text: Some(text.to_owned()) }) }
    pub fn unrestricted() -> Scopes { Scopes { text: None } }
    pub fn is_unrestricted(&self) -> bool { self.text.is_none() }
    pub fn permits(&self, _c: ScopeContext, _r: ResourceType, _i: Interaction) -> bool { self.text.is_none() }
    pub fn permits_any_resource(&self, _c: ScopeContext, _i: Interaction) -> bool { self.text.is_none() }
}
impl fmt::Display for Scopes { fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.text.as_deref().unwrap_or("")) } }
