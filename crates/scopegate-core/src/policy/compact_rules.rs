//! A role's rules laid out for matching: every rule's filter and names in one contiguous
//! buffer, so that checking a role reads a few neighbouring cache lines instead of following
//! `PolicyRule`'s vectors of separately allocated strings (four or five dependent loads per
//! name, each a cache miss on a large policy, where roles are many and each is used rarely).
//!
//! The buffer holds, per rule in order: its byte length (to skip it), its [`RuleFilter`], and
//! five lists (verbs, API groups, resources, resource names, non-resource URLs), each a count
//! then each name as a length and its bytes. Matching reads it with the semantics of
//! [`crate::rbac`], on bytes, and a property test holds the two to the same answer for every
//! rule and request it generates. `rbac.rs` stays the reference, and what explanations use.

use super::rule_filter::{ActionBits, RuleFilter};
use crate::request::{Action, NonResourceAttributes, ResourceAttributes};
use k8s_openapi::api::rbac::v1::PolicyRule;
use std::sync::Arc;

/// The rules of one role, encoded as the module documentation says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CompactRules {
    /// Shared: a role's rules are read through every grant of the role ([`super::Filed`]).
    bytes: Arc<[u8]>,
}

/// The five lists of a rule, in their order in the buffer.
const LISTS: usize = 5;

/// Reads a little-endian `u32` at the front of `bytes`.
#[inline]
fn read_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*head), rest))
}

/// Reads a little-endian `u64` at the front of `bytes`.
#[inline]
fn read_u64(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*head), rest))
}

fn push_u32(out: &mut Vec<u8>, value: usize) -> Option<()> {
    out.extend_from_slice(&u32::try_from(value).ok()?.to_le_bytes());
    Some(())
}

impl CompactRules {
    /// The encoding of `rules`; `None` if one is too large to encode (a list or a name of 4
    /// GiB), in which case the role is matched with [`crate::rbac`] directly.
    pub(crate) fn of(rules: &[PolicyRule]) -> Option<Self> {
        let mut out = Vec::new();
        for rule in rules {
            let start = out.len();
            out.extend_from_slice(&[0; 4]); // the rule's length, written below
            let filter = RuleFilter::of(rule);
            for mask in filter.masks() {
                out.extend_from_slice(&mask.to_le_bytes());
            }
            let lists: [&[String]; LISTS] = [
                &rule.verbs,
                rule.api_groups.as_deref().unwrap_or_default(),
                rule.resources.as_deref().unwrap_or_default(),
                rule.resource_names.as_deref().unwrap_or_default(),
                rule.non_resource_urls.as_deref().unwrap_or_default(),
            ];
            for list in lists {
                push_u32(&mut out, list.len())?;
                for name in list {
                    push_u32(&mut out, name.len())?;
                    out.extend_from_slice(name.as_bytes());
                }
            }
            let len = u32::try_from(out.len() - start).ok()?.to_le_bytes();
            out.get_mut(start..start + 4)?.copy_from_slice(&len);
        }
        Some(CompactRules { bytes: out.into() })
    }

    /// The index of the first rule that covers `action` (whose bits are `bits`), as
    /// `rules.iter().position(|r| rbac::rule_allows(r, action))` on the rules encoded.
    /// A buffer that does not decode (a bug) matches nothing from there on: never an allow.
    #[inline]
    pub(crate) fn first_allowing_rule(&self, action: &Action, bits: &ActionBits) -> Option<usize> {
        let mut rest: &[u8] = &self.bytes;
        let mut index = 0;
        while !rest.is_empty() {
            let (len, _) = read_u32(rest)?;
            let (rule, next) = rest.split_at_checked(len as usize)?;
            if Rule::decode(rule)?.allows(action, bits) {
                return Some(index);
            }
            rest = next;
            index += 1;
        }
        None
    }
}

/// One encoded rule: its filter and its five lists (each still encoded).
struct Rule<'a> {
    filter: RuleFilter,
    body: &'a [u8],
}

impl<'a> Rule<'a> {
    /// The rule in `bytes` (its whole record, length included).
    #[inline]
    fn decode(bytes: &'a [u8]) -> Option<Self> {
        let (_, rest) = read_u32(bytes)?;
        let (verbs, rest) = read_u64(rest)?;
        let (groups, rest) = read_u64(rest)?;
        let (resources, body) = read_u64(rest)?;
        Some(Rule {
            filter: RuleFilter::from_masks([verbs, groups, resources]),
            body,
        })
    }

    #[inline]
    fn allows(&self, action: &Action, bits: &ActionBits) -> bool {
        if !self.filter.may_allow(bits) {
            return false;
        }
        match action {
            Action::Resource(attrs) => self.allows_resource(attrs),
            Action::NonResource(attrs) => self.allows_non_resource(attrs),
        }
    }

    /// The lists are read in their order, each once: a list is walked to its end (to find
    /// the next) while its names are matched.
    fn allows_resource(&self, attrs: &ResourceAttributes) -> bool {
        let verb = attrs.verb.as_bytes();
        let group = attrs.group.as_bytes();
        let (resource, subresource) = (attrs.resource.as_bytes(), attrs.subresource.as_bytes());
        let (verb_ok, rest) = Names::new(self.body).any_then_rest(|v| v == b"*" || v == verb);
        if !verb_ok {
            return false;
        }
        let (group_ok, rest) = Names::new(rest).any_then_rest(|g| g == b"*" || g == group);
        if !group_ok {
            return false;
        }
        let (resource_ok, rest) =
            Names::new(rest).any_then_rest(|r| resource_matches(r, resource, subresource));
        if !resource_ok {
            return false;
        }
        let mut names = Names::new(rest);
        names.is_empty() || names.any(|n| n == attrs.name.as_bytes())
    }

    fn allows_non_resource(&self, attrs: &NonResourceAttributes) -> bool {
        let (verb, path) = (attrs.verb.as_bytes(), attrs.path.as_bytes());
        let (verb_ok, mut rest) = Names::new(self.body).any_then_rest(|v| v == b"*" || v == verb);
        if !verb_ok {
            return false;
        }
        // API groups, resources and resource names do not apply to a path.
        for _ in 0..3 {
            rest = Names::new(rest).skip_all();
        }
        Names::new(rest).any(|url| {
            url == b"*"
                || url == path
                || url
                    .strip_suffix(b"*")
                    .is_some_and(|prefix| path.starts_with(trim_stars(prefix)))
        })
    }
}

/// `url` without any `*` at its end (`trim_end_matches('*')`).
fn trim_stars(mut url: &[u8]) -> &[u8] {
    while let Some(rest) = url.strip_suffix(b"*") {
        url = rest;
    }
    url
}

/// `rbac::resource_matches` for one rule resource, on bytes.
#[inline]
fn resource_matches(rule: &[u8], resource: &[u8], subresource: &[u8]) -> bool {
    if rule == b"*" {
        return true;
    }
    if subresource.is_empty() {
        return rule == resource;
    }
    let combined = rule.len() == resource.len() + 1 + subresource.len()
        && rule.starts_with(resource)
        && rule.get(resource.len()) == Some(&b'/')
        && rule.ends_with(subresource);
    let any_with_subresource = rule.len() == subresource.len() + 2
        && rule.starts_with(b"*/")
        && rule.ends_with(subresource);
    combined || any_with_subresource
}

/// The names of one encoded list, in order.
struct Names<'a> {
    left: u32,
    rest: &'a [u8],
}

impl<'a> Names<'a> {
    /// The list at the front of `bytes` (its count first). A list that does not decode is
    /// empty.
    #[inline]
    fn new(bytes: &'a [u8]) -> Self {
        match read_u32(bytes) {
            Some((left, rest)) => Names { left, rest },
            None => Names { left: 0, rest: &[] },
        }
    }

    fn is_empty(&self) -> bool {
        self.left == 0
    }

    /// Skips every name; what follows the list.
    fn skip_all(self) -> &'a [u8] {
        self.any_then_rest(|_| false).1
    }

    /// Whether any name satisfies `matches` (tried until one does), and what follows the
    /// list.
    #[inline]
    fn any_then_rest(mut self, mut matches: impl FnMut(&[u8]) -> bool) -> (bool, &'a [u8]) {
        let mut found = false;
        for name in self.by_ref() {
            found = found || matches(name);
        }
        (found, self.rest)
    }
}

impl<'a> Iterator for Names<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        let Some((len, rest)) = read_u32(self.rest) else {
            self.left = 0;
            return None;
        };
        let Some((name, rest)) = rest.split_at_checked(len as usize) else {
            self.left = 0;
            return None;
        };
        self.left -= 1;
        self.rest = rest;
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::rule_strategies::{one_of, some_of};
    use crate::rbac::rule_allows;
    use proptest::prelude::*;

    /// `None`, empty, or some names: the three shapes an optional list can have.
    fn maybe_some_of(pool: &'static [&'static str]) -> impl Strategy<Value = Option<Vec<String>>> {
        prop_oneof![
            Just(None),
            Just(Some(Vec::new())),
            some_of(pool).prop_map(Some)
        ]
    }

    const VERBS: &[&str] = &["get", "list", "*", "g", "gets"];
    const GROUPS: &[&str] = &["", "apps", "*"];
    const RESOURCES: &[&str] = &[
        "pods", "pods/log", "*/log", "*", "a", "a/b", "a/b/c", "*/b/c", "log", "*/", "",
    ];
    const NAMES: &[&str] = &["web", "api-0", "", "*"];
    const URLS: &[&str] = &["*", "/metrics", "/metrics*", "/", "/apis/*", "/apis**", ""];

    fn any_rule() -> impl Strategy<Value = PolicyRule> {
        (
            some_of(VERBS),
            maybe_some_of(GROUPS),
            maybe_some_of(RESOURCES),
            maybe_some_of(NAMES),
            maybe_some_of(URLS),
        )
            .prop_map(
                |(verbs, api_groups, resources, resource_names, non_resource_urls)| PolicyRule {
                    verbs,
                    api_groups,
                    resources,
                    resource_names,
                    non_resource_urls,
                },
            )
    }

    fn any_action() -> impl Strategy<Value = Action> {
        let resource = (
            one_of(&["get", "list", "watch", "g"]),
            one_of(&["", "apps", "batch"]),
            one_of(&["pods", "a", "a/b", "a/b/c", "other", "*", ""]),
            one_of(&["", "log", "b/c", "c"]),
            one_of(&["", "web", "api-0", "*"]),
        )
            .prop_map(|(verb, group, resource, subresource, name)| {
                Action::Resource(ResourceAttributes {
                    verb,
                    group,
                    resource,
                    subresource,
                    name,
                    ..Default::default()
                })
            });
        let non_resource = (
            one_of(&["get", "post", "g"]),
            one_of(&[
                "/metrics",
                "/metrics/x",
                "/",
                "/apis/",
                "/apis",
                "/api/v1",
                "",
                "*",
            ]),
        )
            .prop_map(|(verb, path)| Action::NonResource(NonResourceAttributes { verb, path }));
        prop_oneof![resource, non_resource]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The compact rules answer exactly as `rbac` does on the rules they encode: the
        /// same first allowing rule, or none.
        #[test]
        fn compact_rules_match_exactly_as_rbac(
            rules in prop::collection::vec(any_rule(), 0..5),
            action in any_action(),
        ) {
            let compact = CompactRules::of(&rules).expect("small rules encode");
            let expected = rules.iter().position(|r| rule_allows(r, &action));
            let bits = ActionBits::of(&action);
            prop_assert_eq!(compact.first_allowing_rule(&action, &bits), expected);
        }
    }

    #[test]
    fn a_truncated_buffer_allows_nothing() {
        let rules = vec![PolicyRule {
            verbs: vec!["*".into()],
            api_groups: Some(vec!["*".into()]),
            resources: Some(vec!["*".into()]),
            ..Default::default()
        }];
        let action = Action::Resource(ResourceAttributes {
            verb: "get".into(),
            resource: "pods".into(),
            ..Default::default()
        });
        let bits = ActionBits::of(&action);
        let whole = CompactRules::of(&rules).expect("encodes");
        assert_eq!(whole.first_allowing_rule(&action, &bits), Some(0));
        for cut in 0..whole.bytes.len() {
            let truncated = CompactRules {
                bytes: whole.bytes[..cut].into(),
            };
            assert_eq!(
                truncated.first_allowing_rule(&action, &bits),
                None,
                "cut at {cut}"
            );
        }
    }
}
