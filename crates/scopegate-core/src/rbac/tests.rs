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

fn with_names(mut r: PolicyRule, names: &[&str]) -> PolicyRule {
    r.resource_names = Some(names.iter().map(|s| s.to_string()).collect());
    r
}

fn url_rule(verbs: &[&str], urls: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        non_resource_urls: Some(urls.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

fn request(verb: &str, group: &str, resource: &str, subresource: &str, name: &str) -> Action {
    Action::Resource(ResourceAttributes {
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        subresource: subresource.into(),
        name: name.into(),
        namespace: "ns".into(),
        ..Default::default()
    })
}

fn path(verb: &str, path: &str) -> Action {
    Action::NonResource(NonResourceAttributes {
        verb: verb.into(),
        path: path.into(),
    })
}

// ---- verbs ----

#[test]
fn verb_must_be_listed_exactly() {
    let r = rule(&["get", "list"], &[""], &["pods"]);
    assert!(rule_allows(&r, &request("get", "", "pods", "", "x")));
    assert!(rule_allows(&r, &request("list", "", "pods", "", "")));
    assert_eq!(
        check_rule(&r, &request("watch", "", "pods", "", "")),
        Err(RuleMismatch::Verb)
    );
    assert_eq!(
        check_rule(&r, &request("delete", "", "pods", "", "x")),
        Err(RuleMismatch::Verb)
    );
}

#[test]
fn verbs_are_case_sensitive() {
    let r = rule(&["get"], &[""], &["pods"]);
    assert_eq!(
        check_rule(&r, &request("GET", "", "pods", "", "x")),
        Err(RuleMismatch::Verb)
    );
    let upper = rule(&["Get"], &[""], &["pods"]);
    assert_eq!(
        check_rule(&upper, &request("get", "", "pods", "", "x")),
        Err(RuleMismatch::Verb)
    );
}

#[test]
fn verb_is_not_a_prefix_or_substring_match() {
    let r = rule(&["get"], &[""], &["pods"]);
    assert!(!rule_allows(&r, &request("g", "", "pods", "", "x")));
    assert!(!rule_allows(&r, &request("gets", "", "pods", "", "x")));
    let r = rule(&["deletecollection"], &[""], &["pods"]);
    assert!(!rule_allows(&r, &request("delete", "", "pods", "", "x")));
}

#[test]
fn star_verb_covers_every_verb_including_unusual_ones() {
    let r = rule(&["*"], &[""], &["pods"]);
    for verb in [
        "get",
        "list",
        "watch",
        "create",
        "escalate",
        "impersonate",
        "bind",
    ] {
        assert!(
            rule_allows(&r, &request(verb, "", "pods", "", "x")),
            "{verb}"
        );
    }
}

#[test]
fn empty_verbs_match_nothing() {
    let r = rule(&[], &["*"], &["*"]);
    assert_eq!(
        check_rule(&r, &request("get", "", "pods", "", "x")),
        Err(RuleMismatch::Verb)
    );
}

// ---- apiGroups ----

#[test]
fn empty_string_api_group_is_the_core_group_only() {
    let r = rule(&["get"], &[""], &["deployments"]);
    assert!(rule_allows(&r, &request("get", "", "deployments", "", "x")));
    assert_eq!(
        check_rule(&r, &request("get", "apps", "deployments", "", "x")),
        Err(RuleMismatch::ApiGroup)
    );
}

#[test]
fn named_api_group_does_not_cover_the_core_group() {
    let r = rule(&["get"], &["apps"], &["deployments"]);
    assert!(rule_allows(
        &r,
        &request("get", "apps", "deployments", "", "x")
    ));
    assert_eq!(
        check_rule(&r, &request("get", "", "deployments", "", "x")),
        Err(RuleMismatch::ApiGroup)
    );
}

#[test]
fn star_api_group_covers_core_and_named_groups() {
    let r = rule(&["get"], &["*"], &["deployments"]);
    assert!(rule_allows(&r, &request("get", "", "deployments", "", "x")));
    assert!(rule_allows(
        &r,
        &request("get", "apps", "deployments", "", "x")
    ));
    assert!(rule_allows(
        &r,
        &request("get", "example.com", "deployments", "", "x")
    ));
}

#[test]
fn api_group_is_neither_prefix_nor_suffix_nor_case_insensitive_match() {
    let r = rule(&["get"], &["apps"], &["deployments"]);
    for group in ["apps.example.com", "app", "xapps", "Apps"] {
        assert_eq!(
            check_rule(&r, &request("get", group, "deployments", "", "x")),
            Err(RuleMismatch::ApiGroup),
            "{group}"
        );
    }
}

#[test]
fn rule_without_api_groups_matches_no_resource_request() {
    let mut r = rule(&["get"], &[], &["pods"]);
    assert_eq!(
        check_rule(&r, &request("get", "", "pods", "", "x")),
        Err(RuleMismatch::ApiGroup)
    );
    r.api_groups = None;
    assert_eq!(
        check_rule(&r, &request("get", "", "pods", "", "x")),
        Err(RuleMismatch::ApiGroup)
    );
}

// ---- resources ----

#[test]
fn resource_with_subresource_covers_only_that_subresource_not_its_parent() {
    let r = rule(&["get"], &[""], &["pods/log"]);
    assert!(rule_allows(&r, &get("pods", "log")));
    assert_eq!(
        check_rule(&r, &get("pods", "")),
        Err(RuleMismatch::Resource)
    );
    assert_eq!(
        check_rule(&r, &get("pods", "exec")),
        Err(RuleMismatch::Resource)
    );
}

#[test]
fn resource_with_subresource_does_not_cover_another_resources_subresource() {
    let r = rule(&["get"], &[""], &["services/proxy"]);
    assert!(rule_allows(&r, &get("services", "proxy")));
    assert_eq!(
        check_rule(&r, &get("pods", "proxy")),
        Err(RuleMismatch::Resource)
    );
    assert_eq!(
        check_rule(&r, &get("nodes", "proxy")),
        Err(RuleMismatch::Resource)
    );
}

#[test]
fn star_resource_covers_resources_and_their_subresources() {
    let r = rule(&["get"], &[""], &["*"]);
    assert!(rule_allows(&r, &get("pods", "")));
    assert!(rule_allows(&r, &get("pods", "log")));
    assert!(rule_allows(&r, &get("secrets", "")));
}

#[test]
fn resource_slash_star_is_not_a_wildcard() {
    let r = rule(&["get"], &[""], &["pods/*"]);
    assert_eq!(
        check_rule(&r, &get("pods", "log")),
        Err(RuleMismatch::Resource)
    );
    assert_eq!(
        check_rule(&r, &get("pods", "")),
        Err(RuleMismatch::Resource)
    );
}

#[test]
fn star_slash_star_is_not_a_wildcard_for_all_subresources() {
    let r = rule(&["get"], &[""], &["*/*"]);
    assert_eq!(
        check_rule(&r, &get("pods", "log")),
        Err(RuleMismatch::Resource)
    );
    assert_eq!(
        check_rule(&r, &get("pods", "")),
        Err(RuleMismatch::Resource)
    );
}

#[test]
fn star_slash_subresource_does_not_match_a_resource_named_like_the_subresource() {
    let r = rule(&["get"], &[""], &["*/status"]);
    assert_eq!(
        check_rule(&r, &get("status", "")),
        Err(RuleMismatch::Resource)
    );
    assert!(rule_allows(&r, &get("deployments", "status")));
    assert_eq!(
        check_rule(&r, &get("pods", "statuses")),
        Err(RuleMismatch::Resource)
    );
}

#[test]
fn resource_names_are_neither_prefix_nor_glob_nor_case_insensitive_matches() {
    for written in ["pod", "pod*", "Pods", "pods*", "p*"] {
        let r = rule(&["get"], &[""], &[written]);
        assert_eq!(
            check_rule(&r, &get("pods", "")),
            Err(RuleMismatch::Resource),
            "{written}"
        );
    }
}

#[test]
fn subresource_request_matches_when_any_listed_resource_matches() {
    let r = rule(&["get"], &[""], &["pods", "pods/log"]);
    assert!(rule_allows(&r, &get("pods", "")));
    assert!(rule_allows(&r, &get("pods", "log")));
    assert!(!rule_allows(&r, &get("pods", "exec")));
}

// ---- resourceNames ----

#[test]
fn resource_names_restrict_to_the_named_objects() {
    let r = with_names(rule(&["get"], &[""], &["pods"]), &["a", "b"]);
    assert!(rule_allows(&r, &request("get", "", "pods", "", "a")));
    assert!(rule_allows(&r, &request("get", "", "pods", "", "b")));
    assert_eq!(
        check_rule(&r, &request("get", "", "pods", "", "c")),
        Err(RuleMismatch::ResourceName)
    );
    assert_eq!(
        check_rule(&r, &request("get", "", "pods", "", "ab")),
        Err(RuleMismatch::ResourceName)
    );
}

#[test]
fn resource_names_do_not_cover_requests_without_a_name() {
    let r = with_names(rule(&["list", "create", "watch"], &[""], &["pods"]), &["a"]);
    for verb in ["list", "create", "watch"] {
        assert_eq!(
            check_rule(&r, &request(verb, "", "pods", "", "")),
            Err(RuleMismatch::ResourceName),
            "{verb}"
        );
    }
}

#[test]
fn star_in_resource_names_is_a_literal_name_not_a_wildcard() {
    let r = with_names(rule(&["get"], &[""], &["pods"]), &["*"]);
    assert_eq!(
        check_rule(&r, &request("get", "", "pods", "", "x")),
        Err(RuleMismatch::ResourceName)
    );
    assert!(rule_allows(&r, &request("get", "", "pods", "", "*")));
}

#[test]
fn empty_resource_names_list_means_any_name() {
    let r = with_names(rule(&["get", "list"], &[""], &["pods"]), &[]);
    assert!(rule_allows(&r, &request("get", "", "pods", "", "anything")));
    assert!(rule_allows(&r, &request("list", "", "pods", "", "")));
}

#[test]
fn resource_names_apply_to_subresources_of_the_named_object() {
    let r = with_names(rule(&["get"], &[""], &["pods/log"]), &["a"]);
    assert!(rule_allows(&r, &request("get", "", "pods", "log", "a")));
    assert_eq!(
        check_rule(&r, &request("get", "", "pods", "log", "b")),
        Err(RuleMismatch::ResourceName)
    );
}

#[test]
fn resource_names_are_case_sensitive() {
    let r = with_names(rule(&["get"], &[""], &["configmaps"]), &["app-config"]);
    assert_eq!(
        check_rule(&r, &request("get", "", "configmaps", "", "App-Config")),
        Err(RuleMismatch::ResourceName)
    );
}

// ---- first failing criterion ----

#[test]
fn mismatch_reports_the_first_failing_criterion_in_rbac_order() {
    let r = with_names(rule(&["get"], &["apps"], &["deployments"]), &["a"]);
    // Everything wrong: the verb is reported.
    assert_eq!(
        check_rule(&r, &request("delete", "", "pods", "", "b")),
        Err(RuleMismatch::Verb)
    );
    // Verb right, group, resource and name wrong: the group.
    assert_eq!(
        check_rule(&r, &request("get", "", "pods", "", "b")),
        Err(RuleMismatch::ApiGroup)
    );
    // Verb and group right: the resource.
    assert_eq!(
        check_rule(&r, &request("get", "apps", "pods", "", "b")),
        Err(RuleMismatch::Resource)
    );
    assert_eq!(
        check_rule(&r, &request("get", "apps", "deployments", "", "b")),
        Err(RuleMismatch::ResourceName)
    );
}

// ---- resource rules vs non-resource requests and back ----

#[test]
fn resource_rule_never_covers_a_non_resource_request() {
    let r = rule(&["*"], &["*"], &["*"]);
    assert_eq!(
        check_rule(&r, &path("get", "/healthz")),
        Err(RuleMismatch::NonResourceUrl)
    );
}

#[test]
fn non_resource_rule_never_covers_a_resource_request() {
    let r = url_rule(&["*"], &["*"]);
    assert!(!rule_allows(&r, &request("get", "", "pods", "", "x")));
    assert!(!rule_allows(&r, &request("get", "", "*", "", "")));
}

// ---- nonResourceURLs ----

#[test]
fn non_resource_url_without_star_is_an_exact_match() {
    let r = url_rule(&["get"], &["/healthz"]);
    assert!(rule_allows(&r, &path("get", "/healthz")));
    for p in [
        "/healthz/",
        "/healthz/ready",
        "/health",
        "/HEALTHZ",
        "healthz",
    ] {
        assert_eq!(
            check_rule(&r, &path("get", p)),
            Err(RuleMismatch::NonResourceUrl),
            "{p}"
        );
    }
}

#[test]
fn non_resource_star_covers_every_path() {
    let r = url_rule(&["get"], &["*"]);
    assert!(rule_allows(&r, &path("get", "/")));
    assert!(rule_allows(&r, &path("get", "/metrics")));
    assert!(rule_allows(&r, &path("get", "/apis/apps/v1")));
}

#[test]
fn non_resource_trailing_star_is_a_plain_string_prefix_not_a_path_segment() {
    let r = url_rule(&["get"], &["/metrics*"]);
    assert!(rule_allows(&r, &path("get", "/metrics")));
    assert!(rule_allows(&r, &path("get", "/metrics/cadvisor")));
    assert!(rule_allows(&r, &path("get", "/metricsfoo")));
    assert!(!rule_allows(&r, &path("get", "/metric")));
}

#[test]
fn non_resource_trailing_double_star_is_the_same_prefix_as_one_star() {
    // Kubernetes trims every trailing '*' before comparing prefixes.
    let r = url_rule(&["get"], &["/apis/**"]);
    assert!(rule_allows(&r, &path("get", "/apis/apps")));
    assert!(rule_allows(&r, &path("get", "/apis/")));
    assert!(!rule_allows(&r, &path("get", "/api/v1")));
}

#[test]
fn non_resource_star_in_the_middle_is_literal() {
    let r = url_rule(&["get"], &["/apis/*/v1"]);
    assert_eq!(
        check_rule(&r, &path("get", "/apis/apps/v1")),
        Err(RuleMismatch::NonResourceUrl)
    );
    assert!(rule_allows(&r, &path("get", "/apis/*/v1")));
}

#[test]
fn non_resource_verb_is_checked_before_the_path_and_case_sensitive() {
    let r = url_rule(&["get"], &["/healthz"]);
    assert_eq!(
        check_rule(&r, &path("post", "/healthz")),
        Err(RuleMismatch::Verb)
    );
    assert_eq!(
        check_rule(&r, &path("GET", "/healthz")),
        Err(RuleMismatch::Verb)
    );
    assert_eq!(
        check_rule(&r, &path("post", "/nope")),
        Err(RuleMismatch::Verb)
    );
}

#[test]
fn non_resource_rule_without_urls_matches_no_path() {
    let r = url_rule(&["*"], &[]);
    assert_eq!(
        check_rule(&r, &path("get", "/healthz")),
        Err(RuleMismatch::NonResourceUrl)
    );
}

#[test]
fn service_account_user_name_is_the_token_user_name() {
    assert_eq!(
        service_account_user_name("kube-system", "deployer"),
        "system:serviceaccount:kube-system:deployer"
    );
}
