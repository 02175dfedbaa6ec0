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

/// A decision borrowed from the policy (or compiled subject) that made it: the same answer
/// as [`Decision`], holding a reference to the allowing grant instead of a share of it.
///
/// Taking a share is an atomic increment (and, when the answer is dropped, a decrement) on
/// the grant's count: a write to a line no other part of the decision reads, and a full
/// barrier on x86 that keeps the next request's loads from starting early. Callers that
/// only read the answer before the policy goes (a check in a service, a webhook building
/// its response) pay for neither; [`DecisionRef::to_decision`] gives a [`Decision`] to keep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DecisionRef<'p> {
    /// A binding allows the request.
    Allowed(AllowedRef<'p>),
    /// Nothing Scopegate knows allows the request.
    NoOpinion,
}

/// What allowed a request, borrowed: [`Allowed`] without a share of the grant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AllowedRef<'p> {
    /// The compiled binding that allowed.
    pub grant: &'p Arc<Grant>,
    /// Which of the role's effective rules allowed, counting from 0.
    pub rule_index: usize,
}

impl DecisionRef<'_> {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, DecisionRef::Allowed(_))
    }

    /// A one-line reason, as the webhook returns it in `status.reason`.
    pub fn reason(&self) -> String {
        self.to_string()
    }

    /// The decision to keep: the allowing grant shared.
    pub fn to_decision(&self) -> Decision {
        match self {
            DecisionRef::Allowed(a) => Decision::Allowed(Allowed {
                grant: a.grant.clone(),
                rule_index: a.rule_index,
            }),
            DecisionRef::NoOpinion => Decision::NoOpinion,
        }
    }
}

impl<'a> From<&'a Decision> for DecisionRef<'a> {
    fn from(decision: &'a Decision) -> Self {
        decision.as_ref()
    }
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

    /// The decision, borrowed.
    pub fn as_ref(&self) -> DecisionRef<'_> {
        match self {
            Decision::Allowed(a) => DecisionRef::Allowed(AllowedRef {
                grant: &a.grant,
                rule_index: a.rule_index,
            }),
            Decision::NoOpinion => DecisionRef::NoOpinion,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}

impl fmt::Display for DecisionRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecisionRef::Allowed(a) => write!(f, "{a}"),
            DecisionRef::NoOpinion => f.write_str(NO_OPINION_REASON),
        }
    }
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        AllowedRef {
            grant: &self.grant,
            rule_index: self.rule_index,
        }
        .fmt(f)
    }
}

impl fmt::Display for AllowedRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.grant;
        write!(
            f,
            "allowed by {} (role {}, rule {}) at {}",
            g.binding, g.role.role, self.rule_index, g.scope
        )
    }
}
