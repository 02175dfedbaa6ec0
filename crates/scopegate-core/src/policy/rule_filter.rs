//! A quick, conservative pre-check of rules, so that a decision does not compare strings
//! with every rule of every candidate role.
//!
//! Each rule is summarised once, when its role is compiled, as three 64-bit masks: one bit
//! per verb, API group and resource it names (the bit picked by the name's hash), or every
//! bit for a wildcard. A request is summarised once per decision the same way. A rule whose
//! masks miss the request's bits cannot cover it; any other rule is then matched name by
//! name (in [`super::compact_rules`], with the semantics of [`crate::rbac::check_rule`]),
//! which alone decides. So the filter can only skip work, never allow: `rule_allows(rule, action)` implies `RuleFilter::of(rule).may_allow(bits)` (a
//! property test holds it to that). Most rules of a role fail on the verb, the API group or
//! the resource, which is where the time went (string comparisons, most of an L2 hit).

use crate::request::Action;
use k8s_openapi::api::rbac::v1::PolicyRule;
use std::hash::BuildHasher;

/// Every bit: what a wildcard matches.
const ANY: u64 = u64::MAX;

/// The bit of one name. A fixed seed: a name that collides with another costs a string
/// comparison, nothing more, so there is nothing to randomise against; the same bits in
/// every process make the filter's tests exact; and this seed gives each of the verbs
/// Kubernetes uses its own bit (a test checks it).
#[inline]
fn bit(name: &str) -> u64 {
    const HASHER: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0xc);
    1 << (HASHER.hash_one(name) & 63)
}

/// The bits of a request, computed once per decision and checked against each rule's
/// [`RuleFilter`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct ActionBits {
    verb: u64,
    /// `None` for a non-resource request (only the verb is filtered).
    resource: Option<ResourceBits>,
}

/// The API group and resource bits of a resource request.
#[derive(Clone, Copy, Debug)]
struct ResourceBits {
    group: u64,
    resource: u64,
}

impl ActionBits {
    /// The bits of `action`.
    #[inline]
    pub(crate) fn of(action: &Action) -> Self {
        match action {
            Action::Resource(attrs) => ActionBits {
                verb: bit(&attrs.verb),
                resource: Some(ResourceBits {
                    group: bit(&attrs.group),
                    resource: bit(&attrs.resource),
                }),
            },
            Action::NonResource(attrs) => ActionBits {
                verb: bit(&attrs.verb),
                resource: None,
            },
        }
    }
}

/// One rule, summarised: the bits of its verbs, API groups and resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RuleFilter {
    verbs: u64,
    groups: u64,
    resources: u64,
}

impl RuleFilter {
    /// The filter of `rule`.
    pub(crate) fn of(rule: &PolicyRule) -> Self {
        let verbs = rule.verbs.iter().fold(0, |bits, verb| {
            bits | if verb == "*" { ANY } else { bit(verb) }
        });
        let groups = rule.api_groups.iter().flatten().fold(0, |bits, group| {
            bits | if group == "*" { ANY } else { bit(group) }
        });
        let resources = rule
            .resources
            .iter()
            .flatten()
            .fold(0, |bits, resource| bits | resource_bits(resource));
        RuleFilter {
            verbs,
            groups,
            resources,
        }
    }

    /// The three masks (verbs, API groups, resources), to store elsewhere.
    pub(crate) fn masks(&self) -> [u64; 3] {
        [self.verbs, self.groups, self.resources]
    }

    /// The filter [`RuleFilter::masks`] gave.
    pub(crate) fn from_masks([verbs, groups, resources]: [u64; 3]) -> Self {
        RuleFilter {
            verbs,
            groups,
            resources,
        }
    }

    /// False only if the rule cannot cover a request with these bits.
    #[inline]
    pub(crate) fn may_allow(&self, action: &ActionBits) -> bool {
        self.verbs & action.verb != 0
            && action
                .resource
                .is_none_or(|r| self.groups & r.group != 0 && self.resources & r.resource != 0)
    }
}

/// The bits of every request resource one rule resource can cover (see
/// `rbac::resource_matches`): `*` and `*/sub` cover any resource; `res` covers `res`; a
/// name with slashes, such as `pods/log`, covers the request resource before any of its
/// slashes (`pods` with subresource `log`) and, without a subresource, itself.
fn resource_bits(rule_resource: &str) -> u64 {
    if rule_resource == "*" || rule_resource.starts_with("*/") {
        return ANY;
    }
    rule_resource
        .match_indices('/')
        .fold(bit(rule_resource), |bits, (at, _)| {
            bits | bit(&rule_resource[..at])
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::rule_strategies::{one_of, some_of};
    use crate::rbac::rule_allows;
    use crate::request::{NonResourceAttributes, ResourceAttributes};
    use proptest::prelude::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        PolicyRule {
            verbs: owned(verbs),
            api_groups: Some(owned(groups)),
            resources: Some(owned(resources)),
            ..Default::default()
        }
    }

    fn resource(verb: &str, group: &str, resource: &str, subresource: &str) -> Action {
        Action::Resource(ResourceAttributes {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            ..Default::default()
        })
    }

    fn rejects(rule: &PolicyRule, action: &Action) -> bool {
        !RuleFilter::of(rule).may_allow(&ActionBits::of(action))
    }

    #[test]
    fn a_rule_for_other_verbs_groups_or_resources_is_skipped() {
        let r = rule(&["get", "list"], &[""], &["pods", "pods/log"]);
        // Each differs from the rule in one attribute (the bits are fixed: no collision
        // among these names).
        for action in [
            resource("delete", "", "pods", ""),
            resource("get", "apps", "pods", ""),
            resource("get", "", "deployments", ""),
            Action::NonResource(NonResourceAttributes {
                verb: "post".into(),
                path: "/metrics".into(),
            }),
        ] {
            assert!(rejects(&r, &action), "{action:?} not skipped");
        }
        assert!(!rejects(&r, &resource("list", "", "pods", "")));
        assert!(!rejects(&r, &resource("get", "", "pods", "log")));
    }

    #[test]
    fn every_kubernetes_verb_has_a_bit_of_its_own() {
        let verbs = [
            "get",
            "list",
            "watch",
            "create",
            "update",
            "patch",
            "delete",
            "deletecollection",
            "post",
            "put",
            "head",
            "options",
            "impersonate",
            "bind",
            "escalate",
            "use",
            "approve",
            "sign",
        ];
        let all = verbs.iter().fold(0u64, |bits, verb| bits | bit(verb));
        assert_eq!(all.count_ones() as usize, verbs.len());
    }

    #[test]
    fn wildcards_and_subresource_patterns_are_never_skipped() {
        let any = rule(&["*"], &["*"], &["*"]);
        let any_log = rule(&["get"], &[""], &["*/log"]);
        let nested = rule(&["get"], &[""], &["a/b/c"]);
        for action in [
            resource("get", "", "pods", "log"),
            resource("get", "", "anything", "log"),
            resource("get", "", "a", "b/c"),
            resource("get", "", "a/b", "c"),
            resource("get", "", "a/b/c", ""),
        ] {
            for r in [&any, &any_log, &nested] {
                if rule_allows(r, &action) {
                    assert!(!rejects(r, &action), "{r:?} skipped for {action:?}");
                }
            }
        }
        assert!(rule_allows(&nested, &resource("get", "", "a/b", "c")));
        assert!(rule_allows(&nested, &resource("get", "", "a", "b/c")));
    }

    const VERBS: &[&str] = &["get", "list", "*"];
    const GROUPS: &[&str] = &["", "apps", "*"];
    /// Rule resources of every form: plain, `res/sub`, `*/sub`, `*`, two slashes.
    const RULE_RESOURCES: &[&str] = &[
        "pods", "pods/log", "*/log", "*", "a", "a/b", "a/b/c", "*/b/c", "log",
    ];
    const URLS: &[&str] = &["*", "/metrics", "/metrics*", "/"];

    /// Request resources and subresources that the rule resources above can cover in every
    /// way: whole, as `res/sub`, through `*/sub`, and split at either slash of `a/b/c`.
    fn request_resource() -> impl Strategy<Value = (String, String)> {
        (
            one_of(&["pods", "a", "a/b", "a/b/c", "other", "*", ""]),
            one_of(&["", "log", "b/c", "c"]),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The filter never skips a rule that allows: the property the engine relies on.
        #[test]
        fn a_rule_that_allows_is_never_skipped(
            verbs in some_of(VERBS),
            groups in some_of(GROUPS),
            resources in some_of(RULE_RESOURCES),
            urls in some_of(URLS),
            request in (
                one_of(&["get", "list", "watch"]),
                one_of(&["", "apps", "batch"]),
                request_resource(),
                any::<bool>(),
            ),
        ) {
            let rule = PolicyRule {
                verbs,
                api_groups: Some(groups),
                resources: Some(resources),
                non_resource_urls: Some(urls),
                ..Default::default()
            };
            let (verb, group, (res, sub), non_resource) = request;
            let action = if non_resource {
                Action::NonResource(NonResourceAttributes { verb, path: format!("/{res}") })
            } else {
                resource(&verb, &group, &res, &sub)
            };
            if rule_allows(&rule, &action) {
                prop_assert!(!rejects(&rule, &action));
            }
        }
    }
}
