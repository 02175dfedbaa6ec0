//! Rule matching, one behaviour per test, each able to catch a plausible wrong matcher.

use super::*;
use crate::request::{Action, NonResourceAttributes, ResourceAttributes};

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    let strings = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    PolicyRule {
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        api_groups: strings(groups),
        resources: strings(resources),
        ..Default::default()
    }
}

fn get(resource: &str, subresource: &str) -> Action {
    Action::Resource(ResourceAttributes {
        verb: "get".into(),
        resource: resource.into(),
        subresource: subresource.into(),
        name: "x".into(),
        namespace: "ns".into(),
        ..Default::default()
    })
}

#[test]
fn plain_resource_does_not_cover_its_subresources() {
    let r = rule(&["get"], &[""], &["pods"]);
    assert!(rule_allows(&r, &get("pods", "")));
    assert_eq!(
        check_rule(&r, &get("pods", "log")),
        Err(RuleMismatch::Resource)
    );
}

#[test]
fn star_slash_subresource_covers_that_subresource_of_any_resource_only() {
    let r = rule(&["get"], &[""], &["*/log"]);
    assert!(rule_allows(&r, &get("pods", "log")));
    assert!(!rule_allows(&r, &get("pods", "")));
    assert!(!rule_allows(&r, &get("pods", "exec")));
}

#[test]
fn non_resource_trailing_star_is_a_prefix() {
    let r = PolicyRule {
        verbs: vec!["get".into()],
        non_resource_urls: Some(vec!["/apis/*".into()]),
        ..Default::default()
    };
    let at = |path: &str| {
        Action::NonResource(NonResourceAttributes {
            verb: "get".into(),
            path: path.into(),
        })
    };
    assert!(rule_allows(&r, &at("/apis/apps")));
    assert!(rule_allows(&r, &at("/apis/")));
    assert!(!rule_allows(&r, &at("/apis")));
    assert!(!rule_allows(&r, &at("/api/v1")));
}
