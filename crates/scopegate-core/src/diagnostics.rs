//! Problems found in a set of objects that parse but do not make sense together: a binding
//! to a role that does not exist, a role bound at the wrong kind of scope, and the like.
//! An object with an error grants nothing, and nothing else: the rest of the policy decides.
//! Errors make `validate` (and `check --strict`) fail.

use crate::objects::{ObjectRef, Source};
use serde::Serialize;
use std::fmt;

/// How serious a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Accepted (Kubernetes accepts it too) but probably not what was meant.
    Warning,
    /// The object grants nothing; the rest of the policy is unaffected.
    Error,
}

/// One problem with one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// How serious it is.
    pub severity: Severity,
    /// The object at fault.
    pub object: ObjectRef,
    /// Where the object was read, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// The field at fault, e.g. `spec.roleRef.name`.
    pub field: String,
    /// What is wrong, in words the user can act on.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        if let Some(source) = &self.source {
            write!(f, "{source} ({}): ", self.object)?;
        } else {
            write!(f, "{}: ", self.object)?;
        }
        write!(f, "{severity}: {}: {}", self.field, self.message)
    }
}
