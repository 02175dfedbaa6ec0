//! The shared pieces: rule normalisation, narrowing, names and labels.

use super::*;

fn rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> PolicyRule {
    let list = |l: &[&str]| (!l.is_empty()).then(|| l.iter().map(|s| s.to_string()).collect());
    PolicyRule {
        api_groups: list(groups),
        resources: list(resources),
        resource_names: list(names),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        non_resource_urls: None,
    }
}

fn urls(urls: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        non_resource_urls: Some(urls.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

#[test]
fn normalize_keeps_valid_rules_as_they_are() {
    let rules = vec![
        rule(&[""], &["pods"], &[], &["get"]),
        rule(&["apps"], &["deployments"], &["web"], &["patch"]),
        urls(&["/metrics"], &["get"]),
    ];
    assert_eq!(normalize_rules(&rules, false), rules);
}

#[test]
fn normalize_drops_rules_that_match_nothing() {
    let rules = vec![
        rule(&[""], &["pods"], &[], &[]),
        rule(&[], &["pods"], &[], &["get"]),
        rule(&[""], &[], &[], &["get"]),
        PolicyRule {
            verbs: vec!["get".into()],
            ..Default::default()
        },
    ];
    assert!(normalize_rules(&rules, false).is_empty());
}

#[test]
fn normalize_splits_mixed_rules_and_drops_urls_in_namespaces() {
    let mut mixed = rule(&[""], &["pods"], &["a"], &["get"]);
    mixed.non_resource_urls = Some(vec!["/healthz".into()]);
    assert_eq!(
        normalize_rules(std::slice::from_ref(&mixed), false),
        vec![
            rule(&[""], &["pods"], &["a"], &["get"]),
            urls(&["/healthz"], &["get"])
        ]
    );
    assert_eq!(
        normalize_rules(&[mixed], true),
        vec![rule(&[""], &["pods"], &["a"], &["get"])]
    );
}

#[test]
fn normalize_writes_empty_lists_as_absent_and_drops_duplicates() {
    let mut empty_names = rule(&[""], &["pods"], &[], &["get"]);
    empty_names.resource_names = Some(vec![]);
    empty_names.non_resource_urls = Some(vec![]);
    assert_eq!(
        normalize_rules(&[empty_names.clone(), empty_names], false),
        vec![rule(&[""], &["pods"], &[], &["get"])]
    );
}

#[test]
fn narrow_keeps_only_rules_that_reach_the_target() {
    let rules = vec![
        rule(&[""], &["pods", "nodes"], &[], &["get"]),
        rule(&["apps"], &["nodes"], &[], &["delete"]),
        rule(&["*"], &["nodes/status"], &[], &["patch"]),
        rule(&[""], &["*/proxy"], &[], &["create"]),
        urls(&["*"], &["*"]),
    ];
    let members = names(&["n1", "n2"]);
    let narrowed = narrow(
        &rules,
        Target {
            group: "",
            resource: "nodes",
            names: &members,
        },
    );
    assert_eq!(
        narrowed,
        vec![
            rule(&[""], &["nodes"], &["n1", "n2"], &["get"]),
            rule(&[""], &["nodes/status"], &["n1", "n2"], &["patch"]),
            rule(&[""], &["nodes/proxy"], &["n1", "n2"], &["create"]),
        ]
    );
}

#[test]
fn narrow_intersects_resource_names_and_never_widens_them() {
    let rules = vec![
        rule(&[""], &["nodes"], &["n2", "n9"], &["get"]),
        rule(&[""], &["nodes"], &["n9"], &["delete"]),
    ];
    let members = names(&["n1", "n2"]);
    let target = Target {
        group: "",
        resource: "nodes",
        names: &members,
    };
    assert_eq!(
        narrow(&rules, target),
        vec![rule(&[""], &["nodes"], &["n2"], &["get"])]
    );
    // No names at all (an empty group): no rule, never an empty resourceNames.
    let none: Vec<String> = vec![];
    assert!(
        narrow(
            &rules,
            Target {
                names: &none,
                ..target
            }
        )
        .is_empty()
    );
}

#[test]
fn narrow_expands_a_wildcard_resource_to_the_resource_and_its_subresources() {
    let rules = vec![rule(&["*"], &["*"], &[], &["*"])];
    let one = names(&["ide"]);
    let narrowed = narrow(
        &rules,
        Target {
            group: "",
            resource: "pods",
            names: &one,
        },
    );
    assert_eq!(narrowed.len(), 1);
    let resources = narrowed[0].resources.clone().unwrap();
    assert_eq!(resources[0], "pods");
    for sub in known_subresources("", "pods") {
        assert!(resources.contains(&format!("pods/{sub}")), "{sub}");
    }
    assert!(
        resources
            .iter()
            .all(|r| r == "pods" || r.starts_with("pods/"))
    );
    assert_eq!(narrowed[0].api_groups, Some(vec!["".to_string()]));
}

#[test]
fn narrow_ignores_look_alike_resources() {
    let rules = vec![rule(
        &[""],
        &["nodesx", "node", "nodes/", "*/"],
        &[],
        &["get"],
    )];
    let one = names(&["n1"]);
    assert!(
        narrow(
            &rules,
            Target {
                group: "",
                resource: "nodes",
                names: &one
            }
        )
        .is_empty()
    );
}

#[test]
fn names_are_prefixed_and_distinct() {
    assert_eq!(iam_role_object_name("dev"), "scopegate:iamrole:dev");
    assert_eq!(
        iam_role_binding_object_name("dev"),
        "scopegate:iamrolebinding:dev"
    );
    assert_ne!(
        iam_role_object_name("binding:x"),
        iam_role_binding_object_name("x")
    );
}

#[test]
fn source_label_values_are_valid_and_stable() {
    assert_eq!(source_label_value("team-a.admins"), "team-a.admins");
    let long = "a".repeat(100);
    let value = source_label_value(&long);
    assert!(value.len() <= 63, "{value}");
    assert!(is_label_value(&value));
    assert_eq!(value, source_label_value(&long));
    assert_ne!(value, source_label_value(&"a".repeat(101)));
    let odd = source_label_value("-x:y-");
    assert!(is_label_value(&odd), "{odd}");
}

#[test]
fn errors_say_why_with_a_reason() {
    let e = MaterializeError::NotExpressible("x".into());
    assert_eq!(e.reason(), "NotExpressible");
    assert!(!e.engine_grants_nothing());
    assert!(MaterializeError::RoleNotFound("r".into()).engine_grants_nothing());
}
