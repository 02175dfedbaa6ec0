//! Explanations: the whole walk behind a decision, for people. Which scopes were visited,
//! which bindings were considered at each, which rule decided, and why the others did not.

use crate::model::Scope;
use crate::objects::ObjectRef;
use crate::policy::GrantSubject;
use crate::rbac::RuleMismatch;
use crate::request::Request;
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde::Serialize;
use std::fmt;

/// The walk behind one decision.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The request decided.
    pub request: Request,
    /// Whether it was allowed.
    pub allowed: bool,
    /// The one-line reason the webhook gives.
    pub reason: String,
    /// The scope chain, most specific first, with what was considered at each step.
    pub chain: Vec<ScopeVisit>,
    /// Which cache tier answered, when the explanation came through an [`crate::Engine`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<crate::engine::Tier>,
}

/// One step of the chain.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeVisit {
    /// The scope.
    pub scope: Scope,
    /// Whether evaluation reached this step (it stops at the first allow).
    pub visited: bool,
    /// Whether the decision was made here.
    pub decided_here: bool,
    /// The bindings at this scope that name the requesting user or one of their groups.
    pub bindings: Vec<BindingConsidered>,
}

/// One binding considered at one step.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingConsidered {
    /// The binding.
    pub binding: ObjectRef,
    /// The role it grants.
    pub role: ObjectRef,
    /// The subjects of the binding that are the requesting user or one of their groups.
    pub matched_subjects: Vec<GrantSubject>,
    /// Whether it decided the request (the first allowing binding at the first step with one).
    pub decided: bool,
    /// The rule that allows the request, if one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowing_rule: Option<RuleAllow>,
    /// For each rule that does not allow, why not.
    pub rejected_rules: Vec<RuleRejection>,
}

/// A rule that allows the request.
#[derive(Clone, Debug, Serialize)]
pub struct RuleAllow {
    /// Its index among the role's effective rules.
    pub index: usize,
    /// The rule itself.
    pub rule: PolicyRule,
}

/// A rule that does not allow the request, and the first criterion that failed.
#[derive(Clone, Debug, Serialize)]
pub struct RuleRejection {
    /// Its index among the role's effective rules.
    pub index: usize,
    /// Why it does not match.
    pub mismatch: RuleMismatch,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}",
            if self.allowed {
                "allowed"
            } else {
                "no opinion"
            }
        )?;
        writeln!(f, "reason: {}", self.reason)?;
        if let Some(tier) = self.tier {
            writeln!(f, "answered by: {}", tier.as_str())?;
        }
        writeln!(f, "scope chain (most specific first):")?;
        for (i, visit) in self.chain.iter().enumerate() {
            let mark = if visit.decided_here {
                "  <- decided here"
            } else if !visit.visited {
                "  (not visited: an earlier scope decided)"
            } else {
                ""
            };
            writeln!(f, "  {}. {}{mark}", i + 1, visit.scope)?;
            if visit.visited && visit.bindings.is_empty() {
                writeln!(f, "       no binding here names this user or their groups")?;
            }
            for b in &visit.bindings {
                let subjects: Vec<&str> = b
                    .matched_subjects
                    .iter()
                    .map(|s| s.matches.as_str())
                    .collect();
                writeln!(
                    f,
                    "       {} -> {} (for {})",
                    b.binding,
                    b.role,
                    subjects.join(", ")
                )?;
                if let Some(allow) = &b.allowing_rule {
                    let verdict = if b.decided {
                        "allows (decided)"
                    } else {
                        "allows"
                    };
                    writeln!(
                        f,
                        "         rule {} {verdict}: {}",
                        allow.index,
                        describe_rule(&allow.rule)
                    )?;
                }
                for r in &b.rejected_rules {
                    writeln!(
                        f,
                        "         rule {} does not match: {}",
                        r.index,
                        r.mismatch.describe()
                    )?;
                }
                if b.allowing_rule.is_none() && b.rejected_rules.is_empty() {
                    writeln!(f, "         the role has no rules")?;
                }
            }
        }
        Ok(())
    }
}

/// A PolicyRule in one line, as `kubectl describe` would show it.
pub fn describe_rule(rule: &PolicyRule) -> String {
    let list = |v: &Option<Vec<String>>| v.as_deref().unwrap_or_default().join(",");
    let mut parts = vec![format!("verbs=[{}]", rule.verbs.join(","))];
    if rule.api_groups.is_some() {
        // The core group is the empty string; show it as `""` so that `[""]` (the core
        // group) does not read as `[]` (no group, a rule that matches nothing).
        let groups: Vec<&str> = rule
            .api_groups
            .iter()
            .flatten()
            .map(|g| if g.is_empty() { "\"\"" } else { g.as_str() })
            .collect();
        parts.push(format!("apiGroups=[{}]", groups.join(",")));
    }
    if rule.resources.is_some() {
        parts.push(format!("resources=[{}]", list(&rule.resources)));
    }
    if rule.resource_names.as_ref().is_some_and(|n| !n.is_empty()) {
        parts.push(format!("resourceNames=[{}]", list(&rule.resource_names)));
    }
    if rule.non_resource_urls.is_some() {
        parts.push(format!(
            "nonResourceURLs=[{}]",
            list(&rule.non_resource_urls)
        ));
    }
    parts.join(" ")
}
