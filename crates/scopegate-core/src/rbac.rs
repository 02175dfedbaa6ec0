//! The rule matcher: whether one Kubernetes PolicyRule covers one request, and whether one
//! RBAC subject is the requesting user. The same semantics as the Kubernetes RBAC authorizer
//! (`pkg/apis/rbac/v1/evaluation_helpers.go` and `appliesToUser`), kept small enough to audit
//! in minutes. Speed lives in the index around it, never in cleverness here.

use crate::request::{Action, NonResourceAttributes, ResourceAttributes};
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde::Serialize;

/// Why a rule does not cover a request: the first criterion that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RuleMismatch {
    /// The verb is not among the rule's verbs.
    Verb,
    /// The API group is not among the rule's apiGroups.
    ApiGroup,
    /// The resource (with its subresource) is not among the rule's resources.
    Resource,
    /// The rule names objects and this request is not for one of them.
    ResourceName,
    /// The path is not among the rule's nonResourceURLs.
    NonResourceUrl,
}

impl RuleMismatch {
    /// A short sentence for explanations.
    pub fn describe(self) -> &'static str {
        match self {
            RuleMismatch::Verb => "verb not in the rule's verbs",
            RuleMismatch::ApiGroup => "API group not in the rule's apiGroups",
            RuleMismatch::Resource => "resource not in the rule's resources",
            RuleMismatch::ResourceName => "name not in the rule's resourceNames",
            RuleMismatch::NonResourceUrl => "path not in the rule's nonResourceURLs",
        }
    }
}

/// Whether `rule` covers `action`, or the first reason it does not.
pub fn check_rule(rule: &PolicyRule, action: &Action) -> Result<(), RuleMismatch> {
    match action {
        Action::Resource(attrs) => check_resource_rule(rule, attrs),
        Action::NonResource(attrs) => check_non_resource_rule(rule, attrs),
    }
}

/// Whether `rule` covers `action`.
pub fn rule_allows(rule: &PolicyRule, action: &Action) -> bool {
    check_rule(rule, action).is_ok()
}

fn check_resource_rule(rule: &PolicyRule, attrs: &ResourceAttributes) -> Result<(), RuleMismatch> {
    if !verb_matches(rule, &attrs.verb) {
        return Err(RuleMismatch::Verb);
    }
    if !api_group_matches(rule, &attrs.group) {
        return Err(RuleMismatch::ApiGroup);
    }
    if !resource_matches(rule, &attrs.resource, &attrs.subresource) {
        return Err(RuleMismatch::Resource);
    }
    if !resource_name_matches(rule, &attrs.name) {
        return Err(RuleMismatch::ResourceName);
    }
    Ok(())
}

fn check_non_resource_rule(
    rule: &PolicyRule,
    attrs: &NonResourceAttributes,
) -> Result<(), RuleMismatch> {
    if !verb_matches(rule, &attrs.verb) {
        return Err(RuleMismatch::Verb);
    }
    if !non_resource_url_matches(rule, &attrs.path) {
        return Err(RuleMismatch::NonResourceUrl);
    }
    Ok(())
}

fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == "*" || v == verb)
}

fn api_group_matches(rule: &PolicyRule, group: &str) -> bool {
    rule.api_groups
        .iter()
        .flatten()
        .any(|g| g == "*" || g == group)
}

/// `pods` covers only `pods`; `pods/log` only that subresource; `*` everything; `*/log` the
/// `log` subresource of any resource. Nothing else is a pattern.
fn resource_matches(rule: &PolicyRule, resource: &str, subresource: &str) -> bool {
    rule.resources.iter().flatten().any(|r| {
        r == "*"
            || is_combined(r, resource, subresource)
            || (!subresource.is_empty()
                && r.len() == subresource.len() + 2
                && r.starts_with("*/")
                && r.ends_with(subresource))
    })
}

/// Whether `rule_resource` equals `resource` or, with a subresource, `resource/subresource`.
fn is_combined(rule_resource: &str, resource: &str, subresource: &str) -> bool {
    if subresource.is_empty() {
        return rule_resource == resource;
    }
    rule_resource.len() == resource.len() + 1 + subresource.len()
        && rule_resource.starts_with(resource)
        && rule_resource.as_bytes().get(resource.len()) == Some(&b'/')
        && rule_resource.ends_with(subresource)
}

/// No resourceNames means any name; otherwise the request must name one of them (a request
/// without a name, such as list or create, is not covered).
fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    match rule.resource_names.as_deref() {
        None | Some([]) => true,
        Some(names) => names.iter().any(|n| n == name),
    }
}

/// `*` covers every path, `/apis/*` every path starting with `/apis/`, anything else only
/// itself.
fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    rule.non_resource_urls.iter().flatten().any(|url| {
        if url == "*" || url == path {
            return true;
        }
        url.ends_with('*') && path.starts_with(url.trim_end_matches('*'))
    })
}

/// The user name Kubernetes gives a ServiceAccount's token.
pub fn service_account_user_name(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

#[cfg(test)]
mod tests;
