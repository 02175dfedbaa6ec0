//! Arbitrary text through the manifest loader, and whatever parses through compile, decide,
//! explain and UI permissions.
//!
//! Properties: nothing panics, whatever users write (a watch-fed webhook must keep deciding);
//! `decide` and `explain` agree; an allow names a grant of the policy, and a binding with an
//! error never allows.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scopegate_core::model::Scope;
use scopegate_core::{
    Decision, Policy, PolicyOptions, Request, ResourceAttributes, Severity, SubjectInfo, load,
};
use std::sync::LazyLock;

/// Requests that reach every layer of the chain: a named pod in a namespace (Resource →
/// Namespace → Workspace → Cluster → Platform), a named node (Resource → Node → NodeGroup →
/// ...), a workspace object, a collection, and a non-resource URL.
static REQUESTS: LazyLock<Vec<Request>> = LazyLock::new(|| {
    let groups = ["team-a-devs", "system:authenticated"];
    let resource = |verb: &str, group: &str, resource: &str, sub: &str, ns: &str, name: &str| {
        Request::resource(
            "alice",
            ResourceAttributes {
                verb: verb.into(),
                group: group.into(),
                resource: resource.into(),
                subresource: sub.into(),
                namespace: ns.into(),
                name: name.into(),
                ..Default::default()
            },
        )
        .with_groups(groups)
    };
    vec![
        resource("get", "", "pods", "log", "team-a", "api-0"),
        resource("patch", "", "nodes", "status", "", "gpu-1"),
        resource("get", "scope.theriseunion.io", "workspaces", "", "", "w"),
        resource("list", "apps", "deployments", "", "", ""),
        Request::non_resource("system:serviceaccount:team-a:ci", "get", "/metrics")
            .with_groups(["system:serviceaccounts"]),
    ]
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(objects) = load::parse_str(text, "fuzz.yaml") else {
        return;
    };
    let policy = Policy::compile(&objects, &PolicyOptions::default());
    // Bindings with an error grant nothing, invalid subjects included. One error does not
    // drop a whole binding: a duplicate name is reported on the later object, which shares
    // its reference with the first one, which does grant.
    let broken: Vec<_> = policy
        .diagnostics()
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .filter(|d| d.field != "metadata.name" || d.object.name.is_empty())
        .map(|d| d.object.clone())
        .collect();
    for request in REQUESTS.iter() {
        let decision = policy.decide(request);
        let explanation = policy.explain(request);
        assert_eq!(decision.is_allowed(), explanation.allowed);
        assert_eq!(decision.reason(), explanation.reason);
        if let Decision::Allowed(allowed) = &decision {
            assert!(policy.grants().contains(&allowed.grant));
            assert!(allowed.rule_index < allowed.grant.role.rules.len());
            assert!(
                !broken.contains(&allowed.grant.binding),
                "a binding with an error allowed: {decision}"
            );
        }
    }
    let subject = SubjectInfo {
        user: "alice".into(),
        groups: vec!["team-a-devs".into()],
    };
    let _ = policy.ui_permissions(
        &subject,
        &Scope::Namespace {
            name: "team-a".into(),
        },
    );
    let _ = policy.ui_permissions(&subject, &Scope::Platform);
});
