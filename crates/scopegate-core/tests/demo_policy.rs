//! The demo tenant layout in `examples/policies`, decided persona by persona.
//!
//! Every expectation here is derived from the user-facing model (scope chains, first allow
//! wins, no opinion otherwise), not from what the engine prints: the comment on each test
//! says which chain the request has and which binding on it must decide.

use scopegate_core::load::{load_paths, load_policy};
use scopegate_core::model::Scope;
use scopegate_core::{
    Decision, ObjectKind, Policy, PolicyOptions, Request, ResourceAttributes, SubjectInfo,
};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::LazyLock;

fn demo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies")
}

/// The demo as the `default` cluster's webhook serves it.
static DEMO: LazyLock<Policy> = LazyLock::new(|| {
    let (policy, _) = load_policy(&[demo_dir()], &PolicyOptions::default())
        .unwrap_or_else(|e| panic!("the demo policy does not load:\n{e}"));
    policy
});

/// The same files as the `edge-1` cluster's webhook serves them.
static EDGE_1: LazyLock<Policy> = LazyLock::new(|| {
    let options = PolicyOptions {
        cluster_name: "edge-1".to_string(),
    };
    let (policy, _) = load_policy(&[demo_dir()], &options)
        .unwrap_or_else(|e| panic!("the demo policy does not load for edge-1:\n{e}"));
    policy
});

const AUTHENTICATED: &str = "system:authenticated";

/// A request about API objects. `resource` may carry a subresource: `pods/log`.
fn request(
    user: &str,
    groups: &[&str],
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
    name: &str,
) -> Request {
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    Request::resource(
        user,
        ResourceAttributes {
            verb: verb.into(),
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            subresource: subresource.into(),
            name: name.into(),
            namespace: namespace.into(),
        },
    )
    .with_groups(groups.iter().copied())
}

fn url(user: &str, groups: &[&str], verb: &str, path: &str) -> Request {
    Request::non_resource(user, verb, path).with_groups(groups.iter().copied())
}

/// Asserts that `binding` (kind and name) allows `request`, acting at `scope`.
#[track_caller]
fn assert_allowed(
    policy: &Policy,
    request: &Request,
    kind: ObjectKind,
    binding: &str,
    scope: Scope,
) {
    match policy.decide(request) {
        Decision::Allowed(a) => {
            assert_eq!(
                (
                    a.grant.binding.kind,
                    a.grant.binding.name.as_str(),
                    &a.grant.scope
                ),
                (kind, binding, &scope),
                "allowed, but not by the expected binding at the expected scope:\n{}",
                policy.explain(request)
            );
        }
        Decision::NoOpinion => panic!(
            "expected {kind} {binding} at {scope} to allow, got no opinion:\n{}",
            policy.explain(request)
        ),
    }
}

#[track_caller]
fn assert_iam_allowed(policy: &Policy, request: &Request, binding: &str, scope: Scope) {
    assert_allowed(policy, request, ObjectKind::IamRoleBinding, binding, scope);
}

#[track_caller]
fn assert_no_opinion(policy: &Policy, request: &Request) {
    let decision = policy.decide(request);
    assert_eq!(
        decision,
        Decision::NoOpinion,
        "expected no opinion:\n{}",
        policy.explain(request)
    );
}

fn ui(policy: &Policy, user: &str, groups: &[&str], scope: &Scope) -> BTreeSet<String> {
    let subject = SubjectInfo {
        user: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    };
    policy.ui_permissions(&subject, scope)
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn cluster(name: &str) -> Scope {
    Scope::Cluster { name: name.into() }
}
fn workspace(name: &str) -> Scope {
    Scope::Workspace { name: name.into() }
}
fn namespace(name: &str) -> Scope {
    Scope::Namespace { name: name.into() }
}
fn node_group(name: &str) -> Scope {
    Scope::NodeGroup { name: name.into() }
}
fn node(name: &str) -> Scope {
    Scope::Node { name: name.into() }
}

/// What a workspace admin sees in the console: the role's own `workspace.quota.view`, the
/// three templates it names and the two viewer templates it selects by label.
const WORKSPACE_ADMIN_UI: &[&str] = &[
    "workspace.members.manage",
    "workspace.members.view",
    "workspace.quota.view",
    "workspace.settings.manage",
    "workspace.settings.view",
    "workspace.view",
    "workspace.workloads.manage",
    "workspace.workloads.view",
];

/// What a workspace viewer sees: only the templates labelled as viewer templates.
const WORKSPACE_VIEWER_UI: &[&str] = &[
    "workspace.settings.view",
    "workspace.view",
    "workspace.workloads.view",
];

#[test]
fn the_demo_loads_without_any_error_or_warning() {
    let manifests = load_paths(&[demo_dir()]).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        manifests.skipped.is_empty(),
        "the demo holds objects Scopegate does not read: {:?}",
        manifests.skipped
    );
    assert_eq!(manifests.files.len(), 7, "{:?}", manifests.files);
    let policy = Policy::compile(&manifests.objects, &PolicyOptions::default());
    let shown: Vec<String> = policy
        .diagnostics()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(shown.is_empty(), "diagnostics:\n{}", shown.join("\n"));
    // Every binding compiled into a grant: 10 IAMRoleBindings, 1 RoleBinding and 1
    // ClusterRoleBinding. A binding dropped for an error would grant nothing.
    assert_eq!(policy.grants().len(), 12);
    // The same for the edge cluster's webhook: Cluster `default` is declared, so carl's
    // binding is still valid there (it just never applies).
    let edge = Policy::compile(
        &manifests.objects,
        &PolicyOptions {
            cluster_name: "edge-1".into(),
        },
    );
    assert!(edge.diagnostics().is_empty(), "{:?}", edge.diagnostics());
}

/// `platform-admins` is bound at Platform, the last step of every chain: anything anywhere,
/// including cluster-scoped objects, nodes outside any group and non-resource URLs.
#[test]
fn platform_admins_may_do_anything_anywhere() {
    let p = &*DEMO;
    let g = &["platform-admins", AUTHENTICATED];
    let requests = [
        request("pat", g, "delete", "", "pods", "team-b-dev", "search-0"),
        request("pat", g, "create", "", "pods/exec", "team-a-prod", "api-0"),
        request("pat", g, "patch", "", "nodes", "", "cpu-node-1"),
        request("pat", g, "create", "", "namespaces", "", ""),
        request("pat", g, "list", "apps", "deployments", "", ""),
        request(
            "pat",
            g,
            "delete",
            "scope.theriseunion.io",
            "clusters",
            "",
            "edge-1",
        ),
        url("pat", g, "get", "/healthz"),
        url("pat", g, "post", "/debug/pprof/profile"),
    ];
    for r in &requests {
        assert_iam_allowed(p, r, "platform-admins", Scope::Platform);
    }
    // The grant is to the group, not to the user name.
    assert_no_opinion(p, &url("pat", &[AUTHENTICATED], "get", "/healthz"));
    // The other cluster's webhook decides the same: Platform is in every chain everywhere.
    let r = request(
        "pat",
        &["platform-admins"],
        "delete",
        "",
        "pods",
        "team-a-dev",
        "x",
    );
    assert_iam_allowed(&EDGE_1, &r, "platform-admins", Scope::Platform);
    assert!(
        ui(p, "pat", &["platform-admins"], &workspace("team-b"))
            .is_superset(&set(&["platform.users.manage", "cluster.nodes.view"]))
    );
}

/// carl is bound at Cluster `default`, the cluster this webhook serves. That scope is in the
/// chain of every request the webhook decides, so it reaches every namespace, every node and
/// every non-resource URL: the most specific scopes (Resource, Namespace, Workspace, Node,
/// NodeGroup) hold nothing for carl, so the walk reaches Cluster and stops there.
#[test]
fn cluster_admin_carl_may_do_anything_in_the_served_cluster() {
    let p = &*DEMO;
    let g = &[AUTHENTICATED];
    let here = || cluster("default");
    for r in [
        request("carl", g, "delete", "", "pods", "team-a-dev", "api-0"),
        request("carl", g, "create", "apps", "deployments", "team-b-dev", ""),
        request(
            "carl",
            g,
            "update",
            "",
            "configmaps",
            "monitoring",
            "prometheus",
        ),
        request("carl", g, "patch", "", "nodes", "", "cpu-node-1"),
        request("carl", g, "patch", "", "nodes/status", "", "gpu-node-1"),
        request("carl", g, "create", "", "namespaces", "", ""),
        request(
            "carl",
            g,
            "update",
            "scope.theriseunion.io",
            "workspaces",
            "",
            "team-a",
        ),
        url("carl", g, "get", "/metrics"),
        url("carl", g, "get", "/readyz"),
    ] {
        assert_iam_allowed(p, &r, "carl-cluster-admin", here());
    }
    // `clusters/edge-1` has the chain Cluster edge-1 → Cluster default → Platform: the Cluster
    // objects live in the served cluster, whose administrator manages them.
    let r = request(
        "carl",
        g,
        "get",
        "scope.theriseunion.io",
        "clusters",
        "",
        "edge-1",
    );
    assert_iam_allowed(p, &r, "carl-cluster-admin", here());
    // Cluster `default` is not in the chains of the edge-1 webhook: nothing there for carl.
    assert_no_opinion(
        &EDGE_1,
        &request("carl", g, "delete", "", "pods", "team-a-dev", "api-0"),
    );
    assert_no_opinion(&EDGE_1, &url("carl", g, "get", "/metrics"));
    // Console: the cluster pages, and at any scope below the cluster too.
    let cluster_ui = set(&[
        "cluster.nodes.manage",
        "cluster.nodes.view",
        "cluster.settings.manage",
        "cluster.view",
    ]);
    assert_eq!(ui(p, "carl", g, &here()), cluster_ui);
    assert_eq!(ui(p, "carl", g, &namespace("team-b-dev")), cluster_ui);
    // Above the cluster there is only Platform, and another cluster is not below this one.
    assert_eq!(ui(p, "carl", g, &Scope::Platform), set(&[]));
    assert_eq!(ui(p, "carl", g, &cluster("edge-1")), set(&[]));
}

/// frank is bound at Cluster `edge-1`, which this webhook does not serve. A Cluster-scope
/// binding only applies where its cluster is in the chain: in the `default` webhook that is
/// only the request about the `clusters/edge-1` object itself.
#[test]
fn a_binding_on_another_cluster_does_not_leak_into_the_served_one() {
    let p = &*DEMO;
    let g = &[AUTHENTICATED];
    assert_no_opinion(
        p,
        &request("frank", g, "get", "", "pods", "team-a-dev", "api-0"),
    );
    assert_no_opinion(p, &request("frank", g, "list", "", "pods", "", ""));
    assert_no_opinion(
        p,
        &request("frank", g, "patch", "", "nodes", "", "gpu-node-1"),
    );
    assert_no_opinion(p, &request("frank", g, "create", "", "namespaces", "", ""));
    assert_no_opinion(p, &url("frank", g, "get", "/metrics"));
    let clusters = |verb, name| {
        request(
            "frank",
            g,
            verb,
            "scope.theriseunion.io",
            "clusters",
            "",
            name,
        )
    };
    assert_iam_allowed(
        p,
        &clusters("get", "edge-1"),
        "frank-edge-1-admin",
        cluster("edge-1"),
    );
    assert_iam_allowed(
        p,
        &clusters("patch", "edge-1"),
        "frank-edge-1-admin",
        cluster("edge-1"),
    );
    assert_no_opinion(p, &clusters("get", "default"));
    // Listing clusters names none: chain Cluster default → Platform.
    assert_no_opinion(p, &clusters("list", ""));
    // The edge-1 webhook serves edge-1: there frank may do anything.
    let r = request("frank", g, "delete", "", "pods", "team-a-dev", "api-0");
    assert_iam_allowed(&EDGE_1, &r, "frank-edge-1-admin", cluster("edge-1"));
    assert_iam_allowed(
        &EDGE_1,
        &url("frank", g, "get", "/metrics"),
        "frank-edge-1-admin",
        cluster("edge-1"),
    );
    // The console's page for edge-1 shows frank the cluster pages; default's shows him nothing.
    let cluster_ui = ui(p, "frank", g, &cluster("edge-1"));
    assert!(
        cluster_ui.contains("cluster.nodes.manage"),
        "{cluster_ui:?}"
    );
    assert_eq!(ui(p, "frank", g, &cluster("default")), set(&[]));
    assert_eq!(ui(p, "frank", g, &workspace("team-a")), set(&[]));
}

/// carol is bound at Workspace team-a. A request in team-a-dev or team-a-prod has the chain
/// Resource → Namespace → Workspace team-a → Cluster → Platform and is decided at the
/// workspace; a request in team-b-dev has Workspace team-b instead and nothing for carol.
#[test]
fn workspace_admin_carol_runs_team_a_and_nothing_else() {
    let p = &*DEMO;
    let g = &[AUTHENTICATED];
    let team_a = || workspace("team-a");
    for r in [
        request(
            "carol",
            g,
            "delete",
            "apps",
            "deployments",
            "team-a-dev",
            "web",
        ),
        request("carol", g, "create", "", "pods", "team-a-prod", ""),
        request(
            "carol",
            g,
            "create",
            "",
            "pods/exec",
            "team-a-prod",
            "api-0",
        ),
        request(
            "carol",
            g,
            "get",
            "",
            "secrets",
            "team-a-prod",
            "db-password",
        ),
        request(
            "carol",
            g,
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings",
            "team-a-dev",
            "",
        ),
        request(
            "carol",
            g,
            "patch",
            "apps",
            "deployments/scale",
            "team-a-prod",
            "web",
        ),
        // The Workspace object: chain Workspace team-a → Cluster → Platform.
        request(
            "carol",
            g,
            "get",
            "scope.theriseunion.io",
            "workspaces",
            "",
            "team-a",
        ),
        request(
            "carol",
            g,
            "patch",
            "scope.theriseunion.io",
            "workspaces",
            "",
            "team-a",
        ),
    ] {
        assert_iam_allowed(p, &r, "team-a-admins", team_a());
    }
    for r in [
        request("carol", g, "get", "", "pods", "team-b-dev", "search-0"),
        request("carol", g, "create", "", "pods", "team-b-dev", ""),
        request(
            "carol",
            g,
            "get",
            "scope.theriseunion.io",
            "workspaces",
            "",
            "team-b",
        ),
        // Not her workspace's objects: a namespace outside it, all namespaces, nodes.
        request("carol", g, "get", "", "pods", "monitoring", "prometheus-0"),
        request("carol", g, "list", "", "pods", "", ""),
        request("carol", g, "get", "", "nodes", "", "gpu-node-1"),
        // Deleting the workspace is not among workspace-settings-manage's verbs.
        request(
            "carol",
            g,
            "delete",
            "scope.theriseunion.io",
            "workspaces",
            "",
            "team-a",
        ),
    ] {
        assert_no_opinion(p, &r);
    }
}

/// UI permissions at a scope are the union over the scope's own chain: a namespace of team-a
/// inherits what is granted at Workspace team-a; team-b's chain has nothing for carol.
#[test]
fn carols_console_permissions_follow_the_chain() {
    let p = &*DEMO;
    let g = &[AUTHENTICATED];
    let admin = set(WORKSPACE_ADMIN_UI);
    assert_eq!(ui(p, "carol", g, &workspace("team-a")), admin);
    assert_eq!(ui(p, "carol", g, &namespace("team-a-dev")), admin);
    assert_eq!(ui(p, "carol", g, &namespace("team-a-prod")), admin);
    let pod = Scope::Resource {
        namespace: "team-a-dev".into(),
        api_group: String::new(),
        resource: "pods".into(),
        name: "api-0".into(),
    };
    assert_eq!(ui(p, "carol", g, &pod), admin);
    // None of team-b's: not at the workspace, not in its namespace.
    assert_eq!(ui(p, "carol", g, &workspace("team-b")), set(&[]));
    assert_eq!(ui(p, "carol", g, &namespace("team-b-dev")), set(&[]));
    // ... which dave, team-b's admin, does have.
    assert_eq!(ui(p, "dave", g, &namespace("team-b-dev")), admin);
    assert_eq!(ui(p, "dave", g, &workspace("team-a")), set(&[]));
    // Nor above the workspace: the cluster's chain does not go down into workspaces.
    assert_eq!(ui(p, "carol", g, &cluster("default")), set(&[]));
}

/// dave administers team-b exactly as carol administers team-a.
#[test]
fn workspace_admin_dave_runs_team_b_only() {
    let p = &*DEMO;
    let g = &[AUTHENTICATED];
    let r = request("dave", g, "delete", "", "pods", "team-b-dev", "search-0");
    assert_iam_allowed(p, &r, "team-b-admins", workspace("team-b"));
    assert_no_opinion(
        p,
        &request("dave", g, "delete", "", "pods", "team-a-dev", "api-0"),
    );
}

/// The team-a-viewers group holds `workspace-viewer` (only the templates selected by label)
/// at Workspace team-a: read, never write.
#[test]
fn team_a_viewers_can_read_but_not_change() {
    let p = &*DEMO;
    let g = &["team-a-viewers", AUTHENTICATED];
    for r in [
        request("vic", g, "get", "", "pods", "team-a-prod", "api-0"),
        request("vic", g, "get", "", "pods/log", "team-a-dev", "api-0"),
        request("vic", g, "list", "apps", "deployments", "team-a-dev", ""),
        request("vic", g, "watch", "batch", "jobs", "team-a-prod", ""),
        request(
            "vic",
            g,
            "get",
            "scope.theriseunion.io",
            "workspaces",
            "",
            "team-a",
        ),
    ] {
        assert_iam_allowed(p, &r, "team-a-viewers", workspace("team-a"));
    }
    for r in [
        request("vic", g, "delete", "", "pods", "team-a-prod", "api-0"),
        request("vic", g, "create", "", "pods", "team-a-dev", ""),
        request("vic", g, "create", "", "pods/exec", "team-a-dev", "api-0"),
        request("vic", g, "get", "", "secrets", "team-a-dev", "db-password"),
        request(
            "vic",
            g,
            "update",
            "scope.theriseunion.io",
            "workspaces",
            "",
            "team-a",
        ),
        request("vic", g, "get", "", "pods", "team-b-dev", "search-0"),
    ] {
        assert_no_opinion(p, &r);
    }
    assert_eq!(
        ui(p, "vic", g, &namespace("team-a-dev")),
        set(WORKSPACE_VIEWER_UI)
    );
}

/// bob is in team-a-devs, bound at Namespace team-a-dev. His requests there are decided at
/// the Namespace step, before the walk reaches the workspace; team-a-prod's chain (same
/// workspace, other namespace) has no Namespace team-a-dev step.
#[test]
fn namespace_developer_bob_develops_in_team_a_dev_only() {
    let p = &*DEMO;
    let g = &["team-a-devs", AUTHENTICATED];
    let dev = || namespace("team-a-dev");
    for r in [
        request("bob", g, "get", "", "pods/log", "team-a-dev", "api-0"),
        request("bob", g, "create", "", "pods", "team-a-dev", ""),
        request("bob", g, "watch", "", "pods", "team-a-dev", ""),
        request(
            "bob",
            g,
            "update",
            "apps",
            "deployments",
            "team-a-dev",
            "web",
        ),
        request("bob", g, "delete", "", "services", "team-a-dev", "web"),
    ] {
        assert_iam_allowed(p, &r, "team-a-dev-developers", dev());
    }
    for r in [
        // Verbs and resources the role does not list.
        request("bob", g, "patch", "", "pods", "team-a-dev", "api-0"),
        request("bob", g, "create", "", "pods/exec", "team-a-dev", "api-0"),
        request("bob", g, "get", "", "secrets", "team-a-dev", "db-password"),
        request("bob", g, "get", "", "services/proxy", "team-a-dev", "web"),
        // Deployments are in apps, not the core group.
        request("bob", g, "get", "", "deployments", "team-a-dev", "web"),
        // Other namespaces, even of the same workspace.
        request("bob", g, "get", "", "pods", "team-a-prod", "api-0"),
        request("bob", g, "list", "", "pods", "", ""),
    ] {
        assert_no_opinion(p, &r);
    }
    assert_eq!(
        ui(p, "bob", g, &namespace("team-a-dev")),
        set(&["namespace.workloads.manage"])
    );
    assert_eq!(ui(p, "bob", g, &workspace("team-a")), set(&[]));
}

/// erin's binding is at the Resource scope of pod team-a-dev/ide-erin. Only a request naming
/// that pod (with or without a subresource) has that Resource step in its chain.
#[test]
fn erin_reaches_exactly_her_ide_pod() {
    let p = &*DEMO;
    let g = &[AUTHENTICATED];
    let ide = || Scope::Resource {
        namespace: "team-a-dev".into(),
        api_group: String::new(),
        resource: "pods".into(),
        name: "ide-erin".into(),
    };
    for r in [
        request("erin", g, "get", "", "pods", "team-a-dev", "ide-erin"),
        request(
            "erin",
            g,
            "create",
            "",
            "pods/exec",
            "team-a-dev",
            "ide-erin",
        ),
        request("erin", g, "get", "", "pods/log", "team-a-dev", "ide-erin"),
    ] {
        assert_iam_allowed(p, &r, "erin-ide", ide());
    }
    for r in [
        // Another pod, even in the same namespace.
        request("erin", g, "get", "", "pods", "team-a-dev", "api-0"),
        request("erin", g, "create", "", "pods/exec", "team-a-dev", "api-0"),
        // Requests without a name have no Resource step.
        request("erin", g, "list", "", "pods", "team-a-dev", ""),
        request("erin", g, "watch", "", "pods", "team-a-dev", ""),
        // A pod of the same name elsewhere is another object.
        request("erin", g, "get", "", "pods", "team-a-prod", "ide-erin"),
        // The role does not give delete, nor attach.
        request("erin", g, "delete", "", "pods", "team-a-dev", "ide-erin"),
        request(
            "erin",
            g,
            "create",
            "",
            "pods/attach",
            "team-a-dev",
            "ide-erin",
        ),
    ] {
        assert_no_opinion(p, &r);
    }
    assert_eq!(ui(p, "erin", g, &ide()), set(&["environment.open"]));
    assert_eq!(ui(p, "erin", g, &namespace("team-a-dev")), set(&[]));
}

/// olga is bound at NodeGroup gpu. A named node's chain is Resource → Node → NodeGroup of
/// that node (from its label) → Cluster → Platform: gpu-node-1 and gpu-node-2 carry the gpu
/// label, cpu-node-1 carries none.
#[test]
fn nodegroup_operator_olga_maintains_the_gpu_nodes_only() {
    let p = &*DEMO;
    let g = &[AUTHENTICATED];
    let gpu = || node_group("gpu");
    for r in [
        request("olga", g, "patch", "", "nodes", "", "gpu-node-1"),
        request("olga", g, "patch", "", "nodes/status", "", "gpu-node-1"),
        request("olga", g, "get", "", "nodes/status", "", "gpu-node-1"),
        request("olga", g, "get", "", "nodes", "", "gpu-node-2"),
        // `kubectl get node gpu-node-2 -w` lists by name.
        request("olga", g, "watch", "", "nodes", "", "gpu-node-2"),
    ] {
        assert_iam_allowed(p, &r, "gpu-operators", gpu());
    }
    for r in [
        request("olga", g, "patch", "", "nodes", "", "cpu-node-1"),
        request("olga", g, "get", "", "nodes", "", "cpu-node-1"),
        request("olga", g, "patch", "", "nodes/status", "", "cpu-node-1"),
        request("olga", g, "delete", "", "nodes", "", "gpu-node-1"),
        request("olga", g, "get", "", "nodes/proxy", "", "gpu-node-1"),
        // No name, so no Node or NodeGroup step.
        request("olga", g, "list", "", "nodes", "", ""),
        request("olga", g, "get", "", "pods", "team-a-dev", "api-0"),
    ] {
        assert_no_opinion(p, &r);
    }
    let operator = set(&["cluster.nodes.view", "nodegroup.nodes.manage"]);
    assert_eq!(ui(p, "olga", g, &gpu()), operator);
    assert_eq!(ui(p, "olga", g, &node("gpu-node-1")), operator);
    assert_eq!(ui(p, "olga", g, &node("cpu-node-1")), set(&[]));
}

/// The native RoleBinding ci-bot-deploys acts at Namespace team-b-dev, and its ServiceAccount
/// subject without a namespace is ci-bot of team-b-dev.
#[test]
fn ci_bot_deploys_per_its_role_in_team_b_dev_only() {
    let p = &*DEMO;
    let user = "system:serviceaccount:team-b-dev:ci-bot";
    let g = &[
        "system:serviceaccounts",
        "system:serviceaccounts:team-b-dev",
        AUTHENTICATED,
    ];
    for r in [
        request(user, g, "create", "apps", "deployments", "team-b-dev", ""),
        request(
            user,
            g,
            "patch",
            "apps",
            "deployments",
            "team-b-dev",
            "search",
        ),
        request(
            user,
            g,
            "update",
            "",
            "configmaps",
            "team-b-dev",
            "search-config",
        ),
        request(user, g, "get", "", "services", "team-b-dev", "search"),
    ] {
        assert_allowed(
            p,
            &r,
            ObjectKind::RoleBinding,
            "ci-bot-deploys",
            namespace("team-b-dev"),
        );
        let Decision::Allowed(a) = p.decide(&r) else {
            unreachable!()
        };
        assert_eq!(a.grant.binding.namespace.as_deref(), Some("team-b-dev"));
    }
    for r in [
        request(
            user,
            g,
            "delete",
            "apps",
            "deployments",
            "team-b-dev",
            "search",
        ),
        request(user, g, "get", "", "secrets", "team-b-dev", "token"),
        request(user, g, "get", "", "pods", "team-b-dev", "search-0"),
        request(user, g, "create", "apps", "deployments", "team-a-dev", ""),
        request(user, g, "create", "apps", "deployments", "", ""),
    ] {
        assert_no_opinion(p, &r);
    }
    // A ServiceAccount of the same name in another namespace is another user.
    let other = "system:serviceaccount:team-a-dev:ci-bot";
    assert_no_opinion(
        p,
        &request(
            other,
            &["system:serviceaccounts"],
            "create",
            "apps",
            "deployments",
            "team-b-dev",
            "",
        ),
    );
}

/// The sre group holds the aggregated ClusterRole `monitoring` through a ClusterRoleBinding,
/// at Cluster default: the union of both labelled ClusterRoles, in every namespace.
#[test]
fn sre_monitoring_gets_metrics_and_the_aggregated_read_rules() {
    let p = &*DEMO;
    let g = &["sre", AUTHENTICATED];
    let here = || cluster("default");
    let crb = ObjectKind::ClusterRoleBinding;
    for r in [
        // From monitoring-metrics-endpoints.
        url("sam", g, "get", "/metrics"),
        url("sam", g, "get", "/metrics/slis"),
        // From monitoring-read-targets.
        request("sam", g, "list", "", "pods", "", ""),
        request("sam", g, "get", "", "pods", "team-a-dev", "api-0"),
        request("sam", g, "watch", "", "endpoints", "team-b-dev", ""),
        request("sam", g, "get", "", "nodes", "", "cpu-node-1"),
        request("sam", g, "get", "", "nodes/metrics", "", "gpu-node-1"),
        request(
            "sam",
            g,
            "list",
            "monitoring.coreos.com",
            "servicemonitors",
            "monitoring",
            "",
        ),
    ] {
        assert_allowed(p, &r, crb, "sre-monitoring", here());
    }
    for r in [
        url("sam", g, "post", "/metrics"),
        url("sam", g, "get", "/metricsz"),
        url("sam", g, "get", "/healthz"),
        request("sam", g, "delete", "", "pods", "team-a-dev", "api-0"),
        request("sam", g, "get", "", "secrets", "monitoring", "grafana"),
        request("sam", g, "get", "", "nodes/proxy", "", "gpu-node-1"),
        request("sam", g, "get", "", "pods/log", "team-a-dev", "api-0"),
    ] {
        assert_no_opinion(p, &r);
    }
    // Without the group, nothing.
    assert_no_opinion(p, &url("sam", &[AUTHENTICATED], "get", "/metrics"));
}

/// Someone with no binding at all gets no opinion, so kube-apiserver's next authorizer
/// decides: Scopegate never denies.
#[test]
fn a_stranger_gets_no_opinion_everywhere() {
    let p = &*DEMO;
    let g = &[AUTHENTICATED];
    assert_no_opinion(
        p,
        &request("mallory", g, "get", "", "pods", "team-a-dev", "api-0"),
    );
    assert_no_opinion(
        p,
        &request("mallory", g, "get", "", "nodes", "", "gpu-node-1"),
    );
    assert_no_opinion(p, &url("mallory", g, "get", "/metrics"));
    assert_eq!(ui(p, "mallory", g, &namespace("team-a-dev")), set(&[]));
}
