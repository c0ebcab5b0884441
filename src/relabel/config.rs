//! `relabel_config` sections.

use crate::labels::ValidationScheme;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RelabelAction {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    #[serde(default)]
    pub source_labels: Vec<String>,
    #[serde(skip)]
    pub action: RelabelAction,
    #[serde(skip)]
    pub name_validation_scheme: ValidationScheme,
}

impl RelabelConfig {
    /// Checks that depend on the name validation scheme of the enclosing section, and
    /// records the scheme for processing.
    pub fn validate(&mut self, scheme: ValidationScheme) -> Result<(), String> {
        self.name_validation_scheme = scheme;
        Ok(())
    }
}
