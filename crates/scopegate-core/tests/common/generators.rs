//! Generators shared by the property tests: small universes of policy objects where names
//! keep colliding (so that duplicates, updates and dangling references happen), and
//! requests over the same few names. Moved here from `reference_model.rs` so that
//! `store_equivalence.rs` draws from exactly the same universes.

#![allow(dead_code)]

use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef,
    Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use scopegate_core::model::{
    Cluster, ClusterSpec, IamRole, IamRoleBinding, IamRoleBindingSpec, IamRoleRef, IamRoleSpec,
    NodeGroup, NodeGroupSpec, RoleTemplate, RoleTemplateSpec, ScopeKind, ScopeSpec, Workspace,
    WorkspaceSpec,
};
use scopegate_core::{
    Action, NonResourceAttributes, PolicyObjects, Request, ResourceAttributes, SubjectInfo,
};

// ---------------------------------------------------------------------------------------
// Generators: small universes where names keep colliding.
// ---------------------------------------------------------------------------------------

/// The cluster a webhook serves when none is configured (model section 1).
pub(crate) const SERVED_CLUSTER: &str = "default";
pub(crate) const WORKSPACE_LABEL: &str = "scope.theriseunion.io/workspace";
pub(crate) const NODEGROUP_LABEL: &str = "scope.theriseunion.io/nodegroup";
pub(crate) const SCOPE_API_GROUP: &str = "scope.theriseunion.io";
pub(crate) const IAM_API_GROUP: &str = "iam.theriseunion.io";
pub(crate) const RBAC_API_GROUP: &str = "rbac.authorization.k8s.io";

pub(crate) fn name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

pub(crate) const RULE_VERBS: &[&str] = &["get", "list", "create", "delete", "*"];
pub(crate) const REQUEST_VERBS: &[&str] = &["get", "list", "create", "delete", "watch"];
pub(crate) const RULE_GROUPS: &[&str] = &["", "apps", SCOPE_API_GROUP, "*"];
pub(crate) const RULE_RESOURCES: &[&str] = &[
    "pods",
    "pods/log",
    "*/log",
    "deployments",
    "nodes",
    "nodes/status",
    "workspaces",
    "nodegroups",
    "clusters",
    "*",
];
/// (apiGroup, resource) pairs that belong together.
pub(crate) const COHERENT_RESOURCES: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "pods/log"),
    ("", "*/log"),
    ("apps", "deployments"),
    ("", "nodes"),
    ("", "nodes/status"),
    (SCOPE_API_GROUP, "workspaces"),
    (SCOPE_API_GROUP, "nodegroups"),
    (SCOPE_API_GROUP, "clusters"),
    ("*", "*"),
    ("", "*"),
    ("*", "pods"),
];
pub(crate) const RULE_NAMES: &[&str] = &["p1", "n1", "ws-a", "default", ""];
pub(crate) const RULE_URLS: &[&str] = &["/metrics", "/healthz", "/apis/*", "*", "/api"];
pub(crate) const UI_PERMISSIONS: &[&str] = &["ui.view", "ui.edit", "ws.members.manage"];
pub(crate) const TEMPLATE_NAMES: &[&str] = &["t1", "t2", "t3"];
pub(crate) const IAM_ROLE_NAMES: &[&str] = &["r1", "r2", "r3"];
/// Binding names interleave across kinds ("a" < "b" < "r" < "z"), so that only the kind
/// order (IAMRoleBinding < RoleBinding < ClusterRoleBinding) can pick the right one.
pub(crate) const IAM_BINDING_NAMES: &[&str] = &["b1", "b2", "b3", "z4", "z5"];
/// Who asks; repeats make some more likely.
pub(crate) const USERS: &[&str] = &[
    "alice",
    "alice",
    "alice",
    "bob",
    "bob",
    "",
    "system:serviceaccount:ns-1:sa",
    "system:serviceaccount:ns-2:sa",
    "system:serviceaccount:ns-1:builder",
];
pub(crate) const GROUPS: &[&str] = &["dev", "ops", "system:authenticated"];

pub(crate) fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub(crate) fn some_of(
    values: &'static [&'static str],
    size: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = Vec<String>> {
    subsequence(values, size).prop_map(|v| strings(&v))
}

pub(crate) fn meta(name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        labels: (!labels.is_empty()).then(|| {
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        }),
        ..Default::default()
    }
}

pub(crate) fn match_labels(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        match_expressions: None,
    }
}

/// Verbs of a rule: often `*`, often a few plain verbs.
pub(crate) fn rule_verbs() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        1 => Just(strings(&["*"])),
        2 => some_of(&["get", "list", "create", "delete"], 1..=3),
        1 => some_of(RULE_VERBS, 1..=2),
    ]
}

pub(crate) fn rule() -> impl Strategy<Value = PolicyRule> {
    // Mostly groups and resources that belong together, so that rules often match; with
    // some noise (any group with any resource) and, rarely, no apiGroups at all.
    let resource_rule = (
        rule_verbs(),
        subsequence(COHERENT_RESOURCES, 1..=2),
        prop::option::weighted(
            0.15,
            (some_of(RULE_GROUPS, 1..=1), some_of(RULE_RESOURCES, 1..=1)),
        ),
        prop::bool::weighted(0.03),
        prop::option::weighted(0.25, some_of(RULE_NAMES, 0..=2)),
    )
        .prop_map(|(verbs, pairs, noise, no_groups, resource_names)| {
            let mut api_groups: Vec<String> = Vec::new();
            let mut resources: Vec<String> = Vec::new();
            let (noise_groups, noise_resources) = noise.unwrap_or_default();
            let groups = pairs.iter().map(|p| p.0.to_string()).chain(noise_groups);
            let plurals = pairs.iter().map(|p| p.1.to_string()).chain(noise_resources);
            for g in groups {
                if !api_groups.contains(&g) {
                    api_groups.push(g);
                }
            }
            for r in plurals {
                if !resources.contains(&r) {
                    resources.push(r);
                }
            }
            PolicyRule {
                verbs,
                api_groups: (!no_groups).then_some(api_groups),
                resources: Some(resources),
                resource_names,
                non_resource_urls: None,
            }
        });
    let url_rule = (rule_verbs(), some_of(RULE_URLS, 1..=2)).prop_map(|(verbs, urls)| PolicyRule {
        verbs,
        non_resource_urls: Some(urls),
        ..Default::default()
    });
    let mixed = (
        some_of(RULE_VERBS, 1..=2),
        some_of(RULE_GROUPS, 1..=1),
        some_of(RULE_RESOURCES, 1..=1),
        some_of(RULE_URLS, 1..=1),
    )
        .prop_map(|(verbs, api_groups, resources, urls)| PolicyRule {
            verbs,
            api_groups: Some(api_groups),
            resources: Some(resources),
            resource_names: None,
            non_resource_urls: Some(urls),
        });
    prop_oneof![6 => resource_rule, 2 => url_rule, 1 => mixed]
}

pub(crate) fn rules(max: usize) -> impl Strategy<Value = Vec<PolicyRule>> {
    prop_oneof![1 => Just(Vec::new()), 6 => prop::collection::vec(rule(), 1..=max)]
}

pub(crate) fn subject() -> impl Strategy<Value = Subject> {
    let make = |kind: &str, name: &str, namespace: Option<&str>| Subject {
        kind: kind.to_string(),
        name: name.to_string(),
        namespace: namespace.map(str::to_string),
        api_group: None,
    };
    prop_oneof![
        5 => select(vec!["alice", "alice", "bob", "system:serviceaccount:ns-1:sa"])
            .prop_map(move |n| make("User", n, None)),
        4 => select(GROUPS).prop_map(move |n| make("Group", n, None)),
        4 => (
            // "CI_bot" is no DNS subdomain: kube-apiserver refuses it in a native binding.
            select(vec!["sa", "sa", "builder", "builder", "CI_bot"]),
            select(vec![None, Some(""), Some("ns-1"), Some("ns-2")]),
        )
            .prop_map(move |(n, ns)| make("ServiceAccount", n, ns)),
        // Subjects that name no one: no name, or a kind Kubernetes does not know.
        1 => select(vec![("User", ""), ("Group", ""), ("Robot", "alice")])
            .prop_map(move |(k, n)| make(k, n, None)),
        // An apiGroup written out: right for Users and Groups, wrong for a ServiceAccount,
        // or wrong for all (kube-apiserver refuses a native binding with a wrong one).
        2 => (
            select(vec![("User", "alice"), ("Group", "devs"), ("ServiceAccount", "sa")]),
            select(vec![RBAC_API_GROUP, "example.io"]),
        )
            .prop_map(move |((k, n), g)| Subject {
                api_group: Some(g.to_string()),
                ..make(k, n, Some("ns-1"))
            }),
    ]
}

pub(crate) fn subjects() -> impl Strategy<Value = Vec<Subject>> {
    prop_oneof![1 => Just(Vec::new()), 12 => prop::collection::vec(subject(), 1..=2)]
}

/// Objects a Resource scope can name: (namespace, apiGroup, resource, name).
pub(crate) const RESOURCE_TARGETS: &[(&str, &str, &str, &str)] = &[
    ("ns-1", "", "pods", "p1"),
    ("ns-1", "apps", "deployments", "p1"),
    ("ns-2", "", "pods", "p2"),
    ("ns-3", "", "pods", "p1"),
    ("", "", "nodes", "n1"),
    ("", "", "nodes", "n2"),
    ("", SCOPE_API_GROUP, "workspaces", "ws-a"),
    ("", "", "namespaces", "ns-1"),
    ("", "apps", "pods", "p1"),
];

/// A scope picked by kind and a few raw choices, so that a binding's scope can be made to
/// fit its role's kind after the roles are drawn.
#[derive(Clone, Debug)]
pub(crate) struct ScopePick {
    pub(crate) kind: ScopeKind,
    pub(crate) index: usize,
    pub(crate) blanks_as_none: bool,
}

impl ScopePick {
    pub(crate) fn spec(&self, kind: ScopeKind) -> ScopeSpec {
        let blank = |v: &str| {
            if v.is_empty() && self.blanks_as_none {
                None
            } else {
                Some(v.to_string())
            }
        };
        let named = |names: &[&str]| ScopeSpec {
            kind,
            name: Some(names[self.index % names.len()].to_string()),
            namespace: None,
            api_group: None,
            resource: None,
        };
        match kind {
            ScopeKind::Platform => ScopeSpec {
                kind,
                name: blank(""),
                namespace: None,
                api_group: None,
                resource: None,
            },
            ScopeKind::Cluster => named(&["default", "default", "other", "far"]),
            ScopeKind::Workspace => named(&["ws-a", "ws-a", "ws-b", "ws-x"]),
            ScopeKind::NodeGroup => named(&["ng-a", "ng-a", "ng-x"]),
            ScopeKind::Namespace => named(&["ns-1", "ns-2", "ns-3"]),
            ScopeKind::Node => named(&["n1", "n2", "n3"]),
            ScopeKind::Resource => {
                let (ns, group, resource, name) =
                    RESOURCE_TARGETS[self.index % RESOURCE_TARGETS.len()];
                ScopeSpec {
                    kind,
                    name: Some(name.to_string()),
                    namespace: blank(ns),
                    api_group: blank(group),
                    resource: Some(resource.to_string()),
                }
            }
        }
    }
}

pub(crate) fn scope_pick() -> impl Strategy<Value = ScopePick> {
    (select(ScopeKind::ALL.to_vec()), 0..64usize, any::<bool>()).prop_map(
        |(kind, index, blanks_as_none)| ScopePick {
            kind,
            index,
            blanks_as_none,
        },
    )
}

/// An IAMRoleBinding before its scope is fitted to its role.
#[derive(Clone, Debug)]
pub(crate) struct RawIamBinding {
    pub(crate) name: &'static str,
    pub(crate) role: &'static str,
    pub(crate) subjects: Vec<Subject>,
    pub(crate) scope: ScopePick,
    /// Usually bind at the role's own kind; sometimes at whatever kind was drawn.
    pub(crate) fit_role_kind: bool,
}

pub(crate) fn raw_iam_binding() -> impl Strategy<Value = RawIamBinding> {
    (
        select(IAM_BINDING_NAMES),
        select(vec!["r1", "r2", "r3", "r1", "r2", "r3", "r-missing"]),
        subjects(),
        scope_pick(),
        prop::bool::weighted(0.85),
    )
        .prop_map(
            |(name, role, subjects, scope, fit_role_kind)| RawIamBinding {
                name,
                role,
                subjects,
                scope,
                fit_role_kind,
            },
        )
}

/// t1 and t2 usually exist, t3 sometimes; sometimes a second template reuses a name.
pub(crate) fn templates() -> impl Strategy<Value = Vec<RoleTemplate>> {
    (
        prop::option::weighted(0.85, template(vec!["t1"])),
        prop::option::weighted(0.8, template(vec!["t2"])),
        prop::option::weighted(0.5, template(vec!["t3"])),
        prop::collection::vec(template(TEMPLATE_NAMES.to_vec()), 0..=1),
    )
        .prop_map(|(a, b, c, extra)| a.into_iter().chain(b).chain(c).chain(extra).collect())
}

pub(crate) fn template(names: Vec<&'static str>) -> impl Strategy<Value = RoleTemplate> {
    (
        select(names),
        select(vec![None, Some("a"), Some("b")]),
        rules(2),
        some_of(UI_PERMISSIONS, 0..=2),
    )
        .prop_map(|(name, tier, rules, ui_permissions)| {
            let mut t = RoleTemplate::new(
                name,
                RoleTemplateSpec {
                    rules,
                    ui_permissions,
                    ..Default::default()
                },
            );
            if let Some(tier) = tier {
                t.metadata.labels = Some([("tier".to_string(), tier.to_string())].into());
            }
            t
        })
}

/// An IAMRole named one of `names`.
pub(crate) fn iam_role(names: Vec<&'static str>) -> impl Strategy<Value = IamRole> {
    let selector = prop_oneof![
        Just(LabelSelector::default()),
        Just(match_labels(&[("tier", "a")])),
        Just(match_labels(&[("tier", "b")])),
        Just(match_labels(&[])),
    ];
    (
        select(names),
        select(ScopeKind::ALL.to_vec()),
        rules(2),
        some_of(UI_PERMISSIONS, 0..=2),
        prop_oneof![
            6 => some_of(TEMPLATE_NAMES, 0..=2),
            1 => some_of(&["t1", "t-missing"], 1..=2),
        ],
        prop::option::weighted(0.3, selector),
    )
        .prop_map(
            |(name, scope, rules, ui_permissions, role_templates, template_selector)| {
                IamRole::new(
                    name,
                    IamRoleSpec {
                        scope,
                        display_name: None,
                        description: None,
                        rules,
                        ui_permissions,
                        role_templates,
                        template_selector,
                    },
                )
            },
        )
}

/// r1, r2 and r3 usually exist; sometimes a second role reuses a name (and counts for
/// nothing).
pub(crate) fn iam_roles() -> impl Strategy<Value = Vec<IamRole>> {
    (
        prop::option::weighted(0.9, iam_role(vec!["r1"])),
        prop::option::weighted(0.9, iam_role(vec!["r2"])),
        prop::option::weighted(0.8, iam_role(vec!["r3"])),
        prop::collection::vec(iam_role(IAM_ROLE_NAMES.to_vec()), 0..=1),
    )
        .prop_map(|(a, b, c, extra)| a.into_iter().chain(b).chain(c).chain(extra).collect())
}

pub(crate) fn native_role(
    namespaces: Vec<&'static str>,
    names: Vec<&'static str>,
) -> impl Strategy<Value = Role> {
    (select(namespaces), select(names), rules(2)).prop_map(|(ns, name, rules)| Role {
        metadata: ObjectMeta {
            namespace: Some(ns.to_string()),
            ..meta(name, &[])
        },
        rules: Some(rules),
    })
}

pub(crate) fn native_roles() -> impl Strategy<Value = Vec<Role>> {
    (
        prop::option::weighted(0.8, native_role(vec!["ns-1"], vec!["role-a"])),
        prop::option::weighted(0.5, native_role(vec!["ns-2"], vec!["role-b"])),
        prop::collection::vec(
            native_role(vec!["ns-1", "ns-2"], vec!["role-a", "role-b"]),
            0..=1,
        ),
    )
        .prop_map(|(a, b, extra)| a.into_iter().chain(b).chain(extra).collect())
}

/// A ClusterRole named one of `names`, aggregated with probability `aggregated`.
pub(crate) fn cluster_role(
    names: Vec<&'static str>,
    aggregated: f64,
) -> impl Strategy<Value = ClusterRole> {
    let selectors = prop::collection::vec(
        prop_oneof![
            3 => Just(match_labels(&[("agg", "yes")])),
            1 => Just(match_labels(&[("agg", "no")])),
            1 => Just(LabelSelector::default()),
        ],
        0..=2,
    );
    (
        select(names),
        select(vec![None, Some("yes"), Some("yes"), Some("no")]),
        rules(2),
        prop::option::weighted(aggregated, prop::option::weighted(0.9, selectors)),
    )
        .prop_map(|(name, agg, rules, aggregation)| ClusterRole {
            metadata: match agg {
                Some(v) => meta(name, &[("agg", v)]),
                None => meta(name, &[]),
            },
            rules: Some(rules),
            aggregation_rule: aggregation.map(|cluster_role_selectors| AggregationRule {
                cluster_role_selectors,
            }),
        })
}

pub(crate) fn cluster_roles() -> impl Strategy<Value = Vec<ClusterRole>> {
    (
        prop::option::weighted(0.8, cluster_role(vec!["cr-a"], 0.1)),
        prop::option::weighted(0.6, cluster_role(vec!["cr-b"], 0.1)),
        prop::option::weighted(0.6, cluster_role(vec!["cr-agg"], 0.8)),
        prop::collection::vec(
            cluster_role(vec!["cr-a", "cr-b", "cr-c", "cr-agg"], 0.3),
            0..=1,
        ),
    )
        .prop_map(|(a, b, c, extra)| a.into_iter().chain(b).chain(c).chain(extra).collect())
}

pub(crate) fn role_binding() -> impl Strategy<Value = RoleBinding> {
    (
        select(vec!["ns-1", "ns-2", "ns-3"]),
        select(vec!["rb-1", "a-rb"]),
        select(vec![
            ("Role", "role-a"),
            ("Role", "role-b"),
            ("Role", "cr-a"),
            ("ClusterRole", "cr-a"),
            ("ClusterRole", "cr-b"),
            ("ClusterRole", "cr-agg"),
            ("ClusterRole", "role-a"),
        ]),
        subjects(),
    )
        .prop_map(|(ns, name, (kind, role), subjects)| RoleBinding {
            metadata: ObjectMeta {
                namespace: Some(ns.to_string()),
                ..meta(name, &[])
            },
            role_ref: RoleRef {
                api_group: RBAC_API_GROUP.into(),
                kind: kind.into(),
                name: role.into(),
            },
            subjects: Some(subjects),
        })
}

pub(crate) fn cluster_role_binding() -> impl Strategy<Value = ClusterRoleBinding> {
    (
        select(vec!["crb-1", "a-crb"]),
        select(vec!["cr-a", "cr-b", "cr-c", "cr-agg", "cr-missing"]),
        subjects(),
    )
        .prop_map(|(name, role, subjects)| ClusterRoleBinding {
            metadata: meta(name, &[]),
            role_ref: RoleRef {
                api_group: RBAC_API_GROUP.into(),
                kind: "ClusterRole".into(),
                name: role.into(),
            },
            subjects: Some(subjects),
        })
}

/// Namespaces, nodes and the declared workspaces, node groups and clusters.
#[derive(Clone, Debug)]
pub(crate) struct RawTopology {
    pub(crate) namespace_labels: Vec<Option<&'static str>>,
    pub(crate) ns3_exists: bool,
    pub(crate) duplicate_namespace: Option<(usize, Option<&'static str>)>,
    pub(crate) duplicate_node: Option<(usize, Option<&'static str>)>,
    /// A `metadata.namespace` written on some cluster-scoped objects of one kind.
    pub(crate) stray_namespace: Option<usize>,
    pub(crate) node_labels: Vec<Option<&'static str>>,
    pub(crate) n3_exists: bool,
    pub(crate) ws_b_declared: bool,
    pub(crate) ng_a_declared: bool,
    pub(crate) other_cluster_declared: bool,
}

pub(crate) fn raw_topology() -> impl Strategy<Value = RawTopology> {
    let ws_label = || {
        select(vec![
            None,
            Some("ws-a"),
            Some("ws-a"),
            Some("ws-a"),
            Some("ws-b"),
            Some("ws-x"),
            Some(""),
        ])
    };
    let ng_label = || {
        select(vec![
            None,
            Some("ng-a"),
            Some("ng-a"),
            Some("ng-x"),
            Some(""),
        ])
    };
    (
        prop::collection::vec(ws_label(), 3),
        prop::bool::weighted(0.7),
        prop::option::weighted(0.1, (0..3usize, ws_label())),
        prop::option::weighted(0.1, (0..3usize, ng_label())),
        prop::option::weighted(0.15, 0..7usize),
        prop::collection::vec(ng_label(), 3),
        prop::bool::weighted(0.7),
        any::<bool>(),
        prop::bool::weighted(0.8),
        any::<bool>(),
    )
        .prop_map(
            |(
                namespace_labels,
                ns3_exists,
                duplicate_namespace,
                duplicate_node,
                stray_namespace,
                node_labels,
                n3_exists,
                ws_b_declared,
                ng_a_declared,
                other_cluster_declared,
            )| RawTopology {
                namespace_labels,
                ns3_exists,
                duplicate_namespace,
                duplicate_node,
                stray_namespace,
                node_labels,
                n3_exists,
                ws_b_declared,
                ng_a_declared,
                other_cluster_declared,
            },
        )
}

pub(crate) fn resource_action() -> impl Strategy<Value = ResourceAttributes> {
    let attrs = |verb: &str, group: &str, resource: &str, sub: &str, name: &str, ns: &str| {
        ResourceAttributes {
            verb: verb.into(),
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            namespace: ns.into(),
        }
    };
    let namespaced = (
        select(REQUEST_VERBS),
        select(vec![
            ("", "pods"),
            ("apps", "deployments"),
            ("", "pods"),
            ("apps", "pods"),
        ]),
        select(vec!["", "", "log", "status"]),
        select(vec!["", "p1", "p2"]),
        select(vec!["ns-1", "ns-2", "ns-3", "ns-9"]),
    )
        .prop_map(move |(v, (g, r), s, n, ns)| attrs(v, g, r, s, n, ns));
    // The objects Resource scopes name, so that Resource-scope bindings get exercised.
    let targeted = (
        select(REQUEST_VERBS),
        select(RESOURCE_TARGETS),
        select(vec!["", "", "log", "status"]),
        prop::bool::weighted(0.85),
    )
        .prop_map(move |(v, (ns, g, r, n), s, named)| {
            attrs(v, g, r, s, if named { n } else { "" }, ns)
        });
    let node = (
        select(REQUEST_VERBS),
        select(vec!["", "", "status", "log"]),
        select(vec!["", "n1", "n2", "n3", "n9"]),
    )
        .prop_map(move |(v, s, n)| attrs(v, "", "nodes", s, n, ""));
    let scope_object = (
        select(REQUEST_VERBS),
        select(vec!["workspaces", "nodegroups", "clusters"]),
        select(vec!["", "", "status"]),
        select(vec![
            "", "ws-a", "ws-b", "ws-x", "ng-a", "ng-x", "default", "other", "far",
        ]),
    )
        .prop_map(move |(v, r, s, n)| attrs(v, SCOPE_API_GROUP, r, s, n, ""));
    let anything = (
        select(REQUEST_VERBS),
        select(vec!["", "apps", SCOPE_API_GROUP]),
        select(vec![
            "pods",
            "deployments",
            "nodes",
            "workspaces",
            "nodegroups",
            "clusters",
            "namespaces",
        ]),
        select(vec!["", "log", "status"]),
        select(vec!["", "p1", "n1", "ws-a", "ng-a", "default", "ns-1"]),
        select(vec!["", "", "ns-1", "ns-2"]),
    )
        .prop_map(move |(v, g, r, s, n, ns)| attrs(v, g, r, s, n, ns));
    prop_oneof![
        3 => namespaced,
        3 => targeted,
        2 => node,
        2 => scope_object,
        1 => anything,
    ]
}

pub(crate) fn action() -> impl Strategy<Value = Action> {
    let non_resource = (
        select(vec!["get", "post"]),
        select(vec![
            "/metrics",
            "/healthz",
            "/apis",
            "/apis/",
            "/apis/apps",
            "/api",
            "/metrics/extra",
        ]),
    )
        .prop_map(|(verb, path)| {
            Action::NonResource(NonResourceAttributes {
                verb: verb.into(),
                path: path.into(),
            })
        });
    prop_oneof![6 => resource_action().prop_map(Action::Resource), 1 => non_resource]
}

pub(crate) fn subject_info() -> impl Strategy<Value = SubjectInfo> {
    (select(USERS), some_of(GROUPS, 0..=3)).prop_map(|(user, groups)| SubjectInfo {
        user: user.into(),
        groups,
    })
}

pub(crate) fn request() -> impl Strategy<Value = Request> {
    (subject_info(), action()).prop_map(|(who, action)| Request {
        user: who.user,
        groups: who.groups,
        action,
        ..Default::default()
    })
}

/// Adds the topology and the IAMRoleBindings (fitted to their roles) to the roles and
/// native bindings already drawn.
pub(crate) fn complete_objects(
    objects: &mut PolicyObjects,
    topology: RawTopology,
    raw_bindings: Vec<RawIamBinding>,
) {
    let namespace = |name: &str, ws: Option<&str>| Namespace {
        metadata: match ws {
            Some(ws) => meta(name, &[(WORKSPACE_LABEL, ws), ("team", "x")]),
            None => meta(name, &[]),
        },
        ..Default::default()
    };
    let node = |name: &str, group: Option<&str>| Node {
        metadata: match group {
            Some(g) => meta(name, &[(NODEGROUP_LABEL, g)]),
            None => meta(name, &[]),
        },
        ..Default::default()
    };
    let mut namespaces = Vec::new();
    for (i, ns) in ["ns-1", "ns-2", "ns-3"].iter().enumerate() {
        if i < 2 || topology.ns3_exists {
            namespaces.push(namespace(ns, topology.namespace_labels[i]));
        }
    }
    if let Some((i, label)) = topology.duplicate_namespace {
        namespaces.push(namespace(["ns-1", "ns-2", "ns-3"][i], label));
    }
    let mut nodes = Vec::new();
    for (i, n) in ["n1", "n2", "n3"].iter().enumerate() {
        if i < 2 || topology.n3_exists {
            nodes.push(node(n, topology.node_labels[i]));
        }
    }
    if let Some((i, label)) = topology.duplicate_node {
        nodes.push(node(["n1", "n2", "n3"][i], label));
    }
    let mut workspaces = vec![Workspace::new(
        "ws-a",
        WorkspaceSpec {
            namespaces: strings(&["ns-1"]),
            ..Default::default()
        },
    )];
    if topology.ws_b_declared {
        workspaces.push(Workspace::new("ws-b", WorkspaceSpec::default()));
    }
    let mut node_groups = Vec::new();
    if topology.ng_a_declared {
        node_groups.push(NodeGroup::new(
            "ng-a",
            NodeGroupSpec {
                node_selector: match_labels(&[(NODEGROUP_LABEL, "ng-a")]),
                ..Default::default()
            },
        ));
    }
    let mut clusters = Vec::new();
    if topology.other_cluster_declared {
        clusters.push(Cluster::new("other", ClusterSpec::default()));
    }
    // Fit each binding's scope to its role's kind (the first role of that name), mostly.
    let iam_role_bindings = raw_bindings
        .into_iter()
        .map(|raw| {
            let role_kind = objects
                .iam_roles
                .iter()
                .find(|r| name(&r.metadata) == raw.role)
                .map(|r| r.spec.scope);
            let kind = match role_kind {
                Some(kind) if raw.fit_role_kind => kind,
                _ => raw.scope.kind,
            };
            IamRoleBinding::new(
                raw.name,
                IamRoleBindingSpec {
                    subjects: raw.subjects,
                    role_ref: IamRoleRef {
                        kind: "IAMRole".into(),
                        name: raw.role.into(),
                        api_group: raw.fit_role_kind.then(|| IAM_API_GROUP.to_string()),
                    },
                    scope: raw.scope.spec(kind),
                },
            )
        })
        .collect();
    objects.iam_role_bindings = iam_role_bindings;
    objects.clusters = clusters;
    objects.workspaces = workspaces;
    objects.node_groups = node_groups;
    objects.namespaces = namespaces;
    objects.nodes = nodes;
    if let Some(kind) = topology.stray_namespace {
        let o = objects;
        let metas: Vec<&mut ObjectMeta> = match kind {
            0 => o
                .role_templates
                .iter_mut()
                .map(|x| &mut x.metadata)
                .collect(),
            1 => o.iam_roles.iter_mut().map(|x| &mut x.metadata).collect(),
            2 => o
                .iam_role_bindings
                .iter_mut()
                .map(|x| &mut x.metadata)
                .collect(),
            3 => o
                .cluster_roles
                .iter_mut()
                .map(|x| &mut x.metadata)
                .collect(),
            4 => o
                .cluster_role_bindings
                .iter_mut()
                .map(|x| &mut x.metadata)
                .collect(),
            5 => o.workspaces.iter_mut().map(|x| &mut x.metadata).collect(),
            _ => o.node_groups.iter_mut().map(|x| &mut x.metadata).collect(),
        };
        for (i, m) in metas.into_iter().enumerate() {
            if (i + kind) % 2 == 1 {
                m.namespace = Some("ns-1".into());
            }
        }
    }
}

pub(crate) fn objects() -> impl Strategy<Value = PolicyObjects> {
    (
        raw_topology(),
        templates(),
        iam_roles(),
        prop::collection::vec(raw_iam_binding(), 1..=6),
        native_roles(),
        cluster_roles(),
        prop::collection::vec(role_binding(), 0..=3),
        prop::collection::vec(cluster_role_binding(), 0..=2),
    )
        .prop_map(|(topology, tpl, iam, bindings, roles, cr, rb, crb)| {
            let mut objects = PolicyObjects {
                role_templates: tpl,
                iam_roles: iam,
                roles,
                cluster_roles: cr,
                role_bindings: rb,
                cluster_role_bindings: crb,
                ..Default::default()
            };
            complete_objects(&mut objects, topology, bindings);
            objects
        })
}

/// `random` requests, and requests aimed at `store_objects`: each IAMRoleBinding's subjects
/// asking at random, so that allows happen often enough.
pub(crate) fn requests_for(store_objects: &PolicyObjects, random: &[Request]) -> Vec<Request> {
    let mut out = random.to_vec();
    for (i, b) in store_objects.iam_role_bindings.iter().enumerate() {
        for s in &b.spec.subjects {
            let mut r = random[i % random.len()].clone();
            match s.kind.as_str() {
                "Group" => r.groups.push(s.name.clone()),
                _ => r.user = s.name.clone(),
            }
            out.push(r);
        }
    }
    out
}
