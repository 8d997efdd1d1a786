//! Hale's health-check app format and its form engine.
//!
//! An app definition (the analyst's document, JSON) is compiled once into a [`CompiledForm`];
//! the compiled form validates submissions field by field and derives coded observations from
//! numeric answers. The compiled form is itself JSON, so the browser can evaluate it with the
//! same semantics.

pub mod definition;
pub mod validate;

pub use definition::{
    AppDefinition, Choice, CompiledForm, DefinitionError, Field, FieldType, Text,
};
pub use validate::{FieldError, ValidSubmission};
