//! What the engine answers: allowed (and by what), or no opinion.

use crate::policy::Grant;
use std::fmt;
use std::sync::Arc;

/// The answer to a request. There is no "denied": when nothing allows a request Scopegate
/// has no opinion and the next authorizer (usually RBAC) decides.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// A binding allows the request.
    Allowed(Allowed),
    /// Nothing Scopegate knows allows the request.
    NoOpinion,
}

/// What allowed a request: the binding (with its role and scope) and the rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Allowed {
    /// The compiled binding that allowed.
    pub grant: Arc<Grant>,
    /// Which of the role's effective rules allowed, counting from 0.
    pub rule_index: usize,
}

/// The reason given when nothing allows a request.
pub const NO_OPINION_REASON: &str = "no Scopegate binding allows this request";

impl Decision {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }

    /// A one-line reason, as the webhook returns it in `status.reason`.
    pub fn reason(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allowed(a) => write!(f, "{a}"),
            Decision::NoOpinion => f.write_str(NO_OPINION_REASON),
        }
    }
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.grant;
        write!(
            f,
            "allowed by {} (role {}, rule {}) at {}",
            g.binding, g.role.role, self.rule_index, g.scope
        )
    }
}
