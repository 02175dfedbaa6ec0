//! A deterministic generator of large, realistic Scopegate policies and of requests that
//! fit them.
//!
//! The same [`GenConfig`] (size and seed) always yields the same policy, object for object,
//! and the same `(n, seed)` always yields the same requests: nothing is read from the
//! environment. The generator first draws a compact *plan* ([`GeneratedPolicy`]: who is
//! bound to what, where) and derives both the Kubernetes-shaped objects
//! ([`GeneratedPolicy::objects`], [`GeneratedPolicy::write_yaml_dir`]) and the requests
//! ([`GeneratedPolicy::requests`]) from it, so a load generator can build the request set of
//! a 1M-binding policy without materialising the policy.
//!
//! The shape, for `N` bindings in all (see [`GenConfig::for_size`]):
//! - `P` platform admins (`padmin-I`, group `platform-admins`), bound at the Platform scope;
//! - `C` clusters (`default`, the served one, and `cluster-NN`), each with a cluster
//!   administrator (`cadmin-NAME`) bound at its Cluster scope, and the `sre` group viewing
//!   `default`;
//! - `W` workspaces (`ws-NNNNN`), each with 2–4 namespaces labelled
//!   `scope.theriseunion.io/workspace`, an owner bound as workspace-admin and the group
//!   `ws-NNNNN-members` bound as workspace-viewer;
//! - node groups (`ng-NNN`) of 4–12 nodes labelled `scope.theriseunion.io/nodegroup`, each
//!   with an operator;
//! - in every namespace a Role `ci-deployer` bound (RoleBinding) to the ServiceAccount `ci-bot`;
//! - native ClusterRoles (one aggregated, `sg-view`) and ClusterRoleBindings;
//! - the rest of the `N` bindings spread round-robin over `U` users (`user-NNNNNN`, each
//!   in the group of their home workspace): Namespace developers and viewers, Workspace
//!   viewers and admins, Resource-scope IDE pods, NodeGroup operators, Node debuggers,
//!   Cluster viewers, and native RoleBindings / ClusterRoleBindings.

use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef,
    Subject,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use scopegate_core::model::{
    Cluster, ClusterSpec, IamRole, IamRoleBinding, IamRoleBindingSpec, IamRoleRef, IamRoleSpec,
    NODEGROUP_LABEL, NodeGroup, NodeGroupSpec, RoleTemplate, RoleTemplateSpec, ScopeKind,
    ScopeSpec, WORKSPACE_LABEL, Workspace, WorkspaceSpec,
};
use scopegate_core::{PolicyObjects, Request, ResourceAttributes};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The name of the cluster the generated policy is served for (`--cluster-name` default).
pub const SERVED_CLUSTER: &str = "default";

/// How many documents at most go into one generated YAML file.
pub const DOCUMENTS_PER_FILE: usize = 20_000;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const VIEWER_TEMPLATE_LABEL: &str = "templates.scopegate.bench/workspace-viewer";
const AGGREGATE_TO_VIEW_LABEL: &str = "scopegate.bench/aggregate-to-view";
const POOL_LABEL: &str = "scopegate.bench/pool";
const NAMESPACE_SUFFIXES: [&str; 4] = ["dev", "prod", "staging", "ml"];

// ---------------------------------------------------------------------------------------
// Sizes and configuration
// ---------------------------------------------------------------------------------------

/// How many bindings (IAMRoleBindings, RoleBindings and ClusterRoleBindings together) a
/// generated policy has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicySize {
    /// 1,000 bindings.
    K1,
    /// 10,000 bindings.
    K10,
    /// 100,000 bindings (12,500 users).
    K100,
    /// 1,000,000 bindings.
    M1,
}

impl PolicySize {
    /// Every size, smallest first.
    pub const ALL: [PolicySize; 4] = [
        PolicySize::K1,
        PolicySize::K10,
        PolicySize::K100,
        PolicySize::M1,
    ];

    /// The number of bindings.
    pub fn bindings(self) -> usize {
        match self {
            PolicySize::K1 => 1_000,
            PolicySize::K10 => 10_000,
            PolicySize::K100 => 100_000,
            PolicySize::M1 => 1_000_000,
        }
    }

    /// The size as written on command lines: `1k`, `10k`, `100k`, `1m`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicySize::K1 => "1k",
            PolicySize::K10 => "10k",
            PolicySize::K100 => "100k",
            PolicySize::M1 => "1m",
        }
    }
}

impl fmt::Display for PolicySize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PolicySize {
    type Err = String;

    /// Accepts `1k`, `10k`, `100k`, `1m` (any case) and the plain numbers.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['_', ','], "")
            .as_str()
        {
            "1k" | "1000" => Ok(PolicySize::K1),
            "10k" | "10000" => Ok(PolicySize::K10),
            "100k" | "100000" => Ok(PolicySize::K100),
            "1m" | "1000k" | "1000000" => Ok(PolicySize::M1),
            other => Err(format!(
                "unknown policy size {other:?}: expected one of 1k, 10k, 100k, 1m"
            )),
        }
    }
}

/// Every count the generator uses. [`GenConfig::for_size`] derives them from a size; they
/// can be changed for experiments (the result stays deterministic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenConfig {
    /// Bindings in all (IAMRoleBindings + RoleBindings + ClusterRoleBindings).
    pub total_bindings: usize,
    /// Ordinary users (`user-NNNNNN`); the admins come on top.
    pub users: usize,
    /// Platform administrators (`padmin-I`).
    pub platform_admins: usize,
    /// Clusters, the served `default` one included.
    pub clusters: usize,
    /// Workspaces; each has 2–4 namespaces.
    pub workspaces: usize,
    /// Node groups; each has 4–12 nodes.
    pub node_groups: usize,
    /// Seed of every random choice.
    pub seed: u64,
}

impl GenConfig {
    /// The configuration for a size: `N/8` users, `N/100` workspaces (about `3N/100`
    /// namespaces), `N/5000` node groups (about `8N/5000` nodes), `2 + N/50000` clusters.
    pub fn for_size(size: PolicySize, seed: u64) -> Self {
        Self::for_bindings(size.bindings(), seed)
    }

    /// The configuration for any number of bindings, scaled as [`GenConfig::for_size`].
    pub fn for_bindings(total_bindings: usize, seed: u64) -> Self {
        let n = total_bindings;
        GenConfig {
            total_bindings: n,
            users: (n / 8).max(10),
            platform_admins: 3 + n / 250_000,
            clusters: (2 + n / 50_000).max(3),
            workspaces: (n / 100).max(4),
            node_groups: (n / 5_000).max(2),
            seed,
        }
    }
}

// ---------------------------------------------------------------------------------------
// A small deterministic PRNG
// ---------------------------------------------------------------------------------------

/// SplitMix64: tiny, fast, and the same sequence on every machine for a given seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5EED_5C09_E6A7_E000)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` must be positive).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// True with the given probability in percent.
    pub fn percent(&mut self, p: u32) -> bool {
        self.below(100) < p as usize
    }

    /// An index into `weights` drawn in proportion to them.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut x = self.below(total as usize) as u32;
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

// ---------------------------------------------------------------------------------------
// The plan
// ---------------------------------------------------------------------------------------

/// Groups that bindings name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GroupRef {
    PlatformAdmins,
    Sre,
    WorkspaceMembers(u32),
}

/// Who a planned binding grants to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    User(u32),
    PlatformAdmin(u32),
    ClusterAdmin(u32),
    Group(GroupRef),
    CiBot(u32),
}

/// What a planned binding is: which object kind, role and scope kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    PlatformAdmin,
    ClusterAdmin,
    ClusterViewer,
    WorkspaceAdmin,
    WorkspaceViewer,
    NodeGroupOperator,
    NodeDebugger,
    NamespaceDeveloper,
    NamespaceViewer,
    Environment,
    RoleCiDeployer,
    RoleView,
    RoleEdit,
    ClusterMonitoring,
    ClusterNodeReader,
}

impl Kind {
    /// The scope kind at which the binding acts.
    fn scope_kind(self) -> ScopeKind {
        match self {
            Kind::PlatformAdmin => ScopeKind::Platform,
            Kind::ClusterAdmin
            | Kind::ClusterViewer
            | Kind::ClusterMonitoring
            | Kind::ClusterNodeReader => ScopeKind::Cluster,
            Kind::WorkspaceAdmin | Kind::WorkspaceViewer => ScopeKind::Workspace,
            Kind::NodeGroupOperator => ScopeKind::NodeGroup,
            Kind::NodeDebugger => ScopeKind::Node,
            Kind::NamespaceDeveloper
            | Kind::NamespaceViewer
            | Kind::RoleCiDeployer
            | Kind::RoleView
            | Kind::RoleEdit => ScopeKind::Namespace,
            Kind::Environment => ScopeKind::Resource,
        }
    }

    fn name_prefix(self) -> &'static str {
        match self {
            Kind::PlatformAdmin => "platform-admin",
            Kind::ClusterAdmin => "cluster-admin",
            Kind::ClusterViewer => "cluster-viewer",
            Kind::WorkspaceAdmin => "ws-admin",
            Kind::WorkspaceViewer => "ws-viewer",
            Kind::NodeGroupOperator => "ng-operator",
            Kind::NodeDebugger => "node-debugger",
            Kind::NamespaceDeveloper => "ns-developer",
            Kind::NamespaceViewer => "ns-viewer",
            Kind::Environment => "ide",
            Kind::RoleCiDeployer => "ci-deployer",
            Kind::RoleView => "view",
            Kind::RoleEdit => "edit",
            Kind::ClusterMonitoring => "monitoring",
            Kind::ClusterNodeReader => "node-reader",
        }
    }

    fn is_role_binding(self) -> bool {
        matches!(self, Kind::RoleCiDeployer | Kind::RoleView | Kind::RoleEdit)
    }

    fn is_cluster_role_binding(self) -> bool {
        matches!(self, Kind::ClusterMonitoring | Kind::ClusterNodeReader)
    }
}

/// The per-user binding kinds and their weights (percent).
const USER_KINDS: [(Kind, u32); 12] = [
    (Kind::NamespaceDeveloper, 27),
    (Kind::NamespaceViewer, 10),
    (Kind::WorkspaceViewer, 8),
    (Kind::WorkspaceAdmin, 2),
    (Kind::Environment, 15),
    (Kind::RoleCiDeployer, 8),
    (Kind::RoleView, 10),
    (Kind::RoleEdit, 7),
    (Kind::NodeGroupOperator, 3),
    (Kind::NodeDebugger, 5),
    (Kind::ClusterViewer, 3),
    (Kind::ClusterNodeReader, 2),
];

/// One planned binding: kind, subject and target (an index whose meaning depends on the
/// kind: cluster, workspace, node group, node or namespace).
#[derive(Clone, Copy, Debug)]
struct PlannedBinding {
    kind: Kind,
    who: Who,
    target: u32,
}

/// A generated policy, as a plan from which objects and requests are derived. Cheap to
/// build even at 1M bindings (a few dozen bytes per binding).
#[derive(Clone, Debug)]
pub struct GeneratedPolicy {
    config: GenConfig,
    clusters: Vec<String>,
    workspaces: Vec<String>,
    /// Namespaces of each workspace, as indexes into `namespaces`.
    workspace_namespaces: Vec<Vec<u32>>,
    /// Every namespace: name and workspace.
    namespaces: Vec<(String, u32)>,
    node_groups: Vec<String>,
    group_nodes: Vec<Vec<u32>>,
    /// Every node: name and node group.
    nodes: Vec<(String, u32)>,
    bindings: Vec<PlannedBinding>,
    /// Binding indexes by the scope kind they act at (in `ScopeKind::ALL` order).
    by_scope: [Vec<u32>; 7],
}

fn scope_slot(kind: ScopeKind) -> usize {
    ScopeKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_default()
}

impl GeneratedPolicy {
    /// The plan for a size and seed.
    pub fn new(size: PolicySize, seed: u64) -> Self {
        Self::from_config(GenConfig::for_size(size, seed))
    }

    /// The plan for a configuration.
    pub fn from_config(config: GenConfig) -> Self {
        let mut rng = Rng::new(config.seed);
        let clusters: Vec<String> = (0..config.clusters.max(1))
            .map(|c| {
                if c == 0 {
                    SERVED_CLUSTER.to_string()
                } else {
                    format!("cluster-{c:02}")
                }
            })
            .collect();
        let workspaces: Vec<String> = (0..config.workspaces.max(1))
            .map(|w| format!("ws-{w:05}"))
            .collect();
        let mut namespaces = Vec::new();
        let mut workspace_namespaces = Vec::new();
        for (w, ws) in workspaces.iter().enumerate() {
            let count = 2 + rng.below(3);
            let mut mine = Vec::new();
            for suffix in &NAMESPACE_SUFFIXES[..count] {
                mine.push(namespaces.len() as u32);
                namespaces.push((format!("{ws}-{suffix}"), w as u32));
            }
            workspace_namespaces.push(mine);
        }
        let node_groups: Vec<String> = (0..config.node_groups.max(1))
            .map(|g| format!("ng-{g:03}"))
            .collect();
        let mut nodes = Vec::new();
        let mut group_nodes = Vec::new();
        for (g, group) in node_groups.iter().enumerate() {
            let count = 4 + rng.below(9);
            let mut mine = Vec::new();
            for n in 0..count {
                mine.push(nodes.len() as u32);
                nodes.push((format!("{group}-node-{n:02}"), g as u32));
            }
            group_nodes.push(mine);
        }

        let mut plan = GeneratedPolicy {
            config,
            clusters,
            workspaces,
            workspace_namespaces,
            namespaces,
            node_groups,
            group_nodes,
            nodes,
            bindings: Vec::new(),
            by_scope: Default::default(),
        };
        plan.plan_bindings(&mut rng);
        plan
    }

    /// Ordinary users: at least one per workspace, so every workspace's group has members.
    fn users(&self) -> usize {
        self.config.users.max(self.workspaces.len()).max(1)
    }

    /// The home workspace of an ordinary user.
    fn home(&self, user: u32) -> u32 {
        user % self.workspaces.len() as u32
    }

    fn plan_bindings(&mut self, rng: &mut Rng) {
        let total = self.config.total_bindings;
        let mut planned = Vec::with_capacity(total);
        let mut push = |kind, who, target: usize| {
            planned.push(PlannedBinding {
                kind,
                who,
                target: target as u32,
            })
        };
        // Structure: admins, owners, operators, CI bots.
        push(Kind::PlatformAdmin, Who::Group(GroupRef::PlatformAdmins), 0);
        for i in 0..self.config.platform_admins {
            push(Kind::PlatformAdmin, Who::PlatformAdmin(i as u32), 0);
        }
        for c in 0..self.clusters.len() {
            push(Kind::ClusterAdmin, Who::ClusterAdmin(c as u32), c);
        }
        push(Kind::ClusterViewer, Who::Group(GroupRef::Sre), 0);
        push(Kind::ClusterMonitoring, Who::Group(GroupRef::Sre), 0);
        let users = self.users() as u32;
        for w in 0..self.workspaces.len() {
            push(
                Kind::WorkspaceViewer,
                Who::Group(GroupRef::WorkspaceMembers(w as u32)),
                w,
            );
            // The owner: the first user whose home this workspace is.
            push(Kind::WorkspaceAdmin, Who::User(w as u32 % users), w);
        }
        for g in 0..self.node_groups.len() {
            push(
                Kind::NodeGroupOperator,
                Who::User(rng.below(users as usize) as u32),
                g,
            );
        }
        for ns in 0..self.namespaces.len() {
            push(Kind::RoleCiDeployer, Who::CiBot(ns as u32), ns);
        }
        // The rest: ordinary users, round-robin, so every user has bindings.
        let weights: Vec<u32> = USER_KINDS.iter().map(|(_, w)| *w).collect();
        let mut next_user = 0u32;
        while planned.len() < total {
            let user = next_user % users;
            next_user = next_user.wrapping_add(1);
            let kind = USER_KINDS[rng.weighted(&weights)].0;
            let target = self.user_target(kind, user, rng);
            planned.push(PlannedBinding {
                kind,
                who: Who::User(user),
                target,
            });
        }
        planned.truncate(total);
        for (i, b) in planned.iter().enumerate() {
            self.by_scope[scope_slot(b.kind.scope_kind())].push(i as u32);
        }
        self.bindings = planned;
    }

    /// Where a per-user binding points: mostly the user's home workspace and its
    /// namespaces, sometimes elsewhere.
    fn user_target(&self, kind: Kind, user: u32, rng: &mut Rng) -> u32 {
        let workspace = if rng.percent(85) {
            self.home(user)
        } else {
            rng.below(self.workspaces.len()) as u32
        };
        let namespaces = &self.workspace_namespaces[workspace as usize];
        let namespace = namespaces[rng.below(namespaces.len())];
        match kind {
            Kind::WorkspaceAdmin | Kind::WorkspaceViewer => workspace,
            Kind::NodeGroupOperator => rng.below(self.node_groups.len()) as u32,
            Kind::NodeDebugger => rng.below(self.nodes.len()) as u32,
            Kind::ClusterViewer => {
                if rng.percent(50) {
                    0
                } else {
                    rng.below(self.clusters.len()) as u32
                }
            }
            Kind::ClusterNodeReader | Kind::ClusterMonitoring | Kind::PlatformAdmin => 0,
            Kind::ClusterAdmin => 0,
            _ => namespace,
        }
    }

    /// The configuration this plan was drawn from.
    pub fn config(&self) -> &GenConfig {
        &self.config
    }

    /// The number of bindings.
    pub fn binding_count(&self) -> usize {
        self.bindings.len()
    }

    /// The number of bindings acting at each scope kind.
    pub fn bindings_by_scope(&self) -> BTreeMap<ScopeKind, usize> {
        ScopeKind::ALL
            .iter()
            .map(|k| (*k, self.by_scope[scope_slot(*k)].len()))
            .collect()
    }

    /// The number of distinct subjects named by bindings: users (admins, service accounts
    /// included) and groups.
    pub fn distinct_subjects(&self) -> (usize, usize) {
        let mut users = std::collections::HashSet::new();
        let mut groups = std::collections::HashSet::new();
        for b in &self.bindings {
            match b.who {
                Who::Group(g) => {
                    groups.insert(self.group_name(g));
                }
                other => {
                    users.insert(self.identity(other).0);
                }
            }
        }
        (users.len(), groups.len())
    }

    /// The number of namespaces.
    pub fn namespace_count(&self) -> usize {
        self.namespaces.len()
    }

    /// The number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    // -----------------------------------------------------------------------------------
    // Names and identities
    // -----------------------------------------------------------------------------------

    fn user_name(user: u32) -> String {
        format!("user-{user:06}")
    }

    fn group_name(&self, group: GroupRef) -> String {
        match group {
            GroupRef::PlatformAdmins => "platform-admins".to_string(),
            GroupRef::Sre => "sre".to_string(),
            GroupRef::WorkspaceMembers(w) => format!("{}-members", self.workspaces[w as usize]),
        }
    }

    fn is_sre(user: u32) -> bool {
        user.is_multiple_of(50)
    }

    /// The user name and groups with which a subject authenticates (what kube-apiserver puts
    /// in a SubjectAccessReview).
    fn identity(&self, who: Who) -> (String, Vec<String>) {
        let authenticated = "system:authenticated".to_string();
        match who {
            Who::User(u) => {
                let mut groups = vec![
                    authenticated,
                    self.group_name(GroupRef::WorkspaceMembers(self.home(u))),
                ];
                if Self::is_sre(u) {
                    groups.push(self.group_name(GroupRef::Sre));
                }
                (Self::user_name(u), groups)
            }
            Who::PlatformAdmin(i) => (
                format!("padmin-{i}"),
                vec![authenticated, self.group_name(GroupRef::PlatformAdmins)],
            ),
            Who::ClusterAdmin(c) => (
                format!("cadmin-{}", self.clusters[c as usize]),
                vec![authenticated],
            ),
            Who::CiBot(ns) => {
                let ns = &self.namespaces[ns as usize].0;
                (
                    format!("system:serviceaccount:{ns}:ci-bot"),
                    vec![
                        "system:serviceaccounts".to_string(),
                        format!("system:serviceaccounts:{ns}"),
                        authenticated,
                    ],
                )
            }
            Who::Group(_) => unreachable!("groups have no identity of their own"),
        }
    }

    /// A concrete member of a binding's subject.
    fn member(&self, who: Who, rng: &mut Rng) -> Who {
        match who {
            Who::Group(GroupRef::PlatformAdmins) => {
                Who::PlatformAdmin(rng.below(self.config.platform_admins.max(1)) as u32)
            }
            Who::Group(GroupRef::Sre) => {
                let sres = self.users().div_ceil(50);
                Who::User((rng.below(sres) * 50) as u32)
            }
            Who::Group(GroupRef::WorkspaceMembers(w)) => {
                let per_home = (self.users() as u32)
                    .saturating_sub(w)
                    .div_ceil(self.workspaces.len() as u32);
                if per_home == 0 {
                    // No user lives there (more workspaces than users): anyone of another.
                    Who::User(0)
                } else {
                    Who::User(
                        w + self.workspaces.len() as u32 * rng.below(per_home as usize) as u32,
                    )
                }
            }
            other => other,
        }
    }

    fn subject(&self, who: Who) -> Subject {
        match who {
            Who::Group(g) => Subject {
                kind: "Group".to_string(),
                api_group: Some(RBAC_GROUP.to_string()),
                name: self.group_name(g),
                namespace: None,
            },
            // The binding's namespace is the service account's.
            Who::CiBot(_) => Subject {
                kind: "ServiceAccount".to_string(),
                api_group: None,
                name: "ci-bot".to_string(),
                namespace: None,
            },
            other => Subject {
                kind: "User".to_string(),
                api_group: Some(RBAC_GROUP.to_string()),
                name: self.identity(other).0,
                namespace: None,
            },
        }
    }

    fn ide_pod(&self, index: usize, who: Who) -> String {
        match who {
            Who::User(u) => format!("ide-{u:06}-{index}"),
            _ => format!("ide-{index}"),
        }
    }

    // -----------------------------------------------------------------------------------
    // Objects
    // -----------------------------------------------------------------------------------

    /// Every object of the policy, in the order files list them, handed to `sink` one at a
    /// time (so a 1M-binding policy can be written without holding it all).
    pub fn for_each_object(&self, mut sink: impl FnMut(GeneratedObject)) {
        for (c, name) in self.clusters.iter().enumerate() {
            let mut cluster = Cluster::new(
                name,
                ClusterSpec {
                    display_name: Some(format!("Cluster {name}")),
                    region: Some(["eu-central-1", "eu-west-3", "us-east-1"][c % 3].to_string()),
                },
            );
            cluster.metadata.labels = Some(labels(&[(
                "scopegate.bench/environment",
                if c == 0 { "production" } else { "edge" },
            )]));
            sink(GeneratedObject::Cluster(cluster));
        }
        for t in role_templates() {
            sink(GeneratedObject::RoleTemplate(t));
        }
        for r in iam_roles() {
            sink(GeneratedObject::IamRole(r));
        }
        for (w, name) in self.workspaces.iter().enumerate() {
            let owner = self.subject(Who::User(w as u32 % self.users() as u32));
            let quota = [("cpu", "64"), ("memory", "256Gi"), ("pods", "400")];
            let ns_quota = [("cpu", "16"), ("memory", "64Gi"), ("pods", "100")];
            let spec = WorkspaceSpec {
                display_name: Some(format!("Workspace {name}")),
                namespaces: self.workspace_namespaces[w]
                    .iter()
                    .map(|&n| self.namespaces[n as usize].0.clone())
                    .collect(),
                quota: quantities(&quota),
                namespace_quota: quantities(&ns_quota),
                limit_range: None,
                network_isolation: Some(true),
                owners: vec![owner],
            };
            sink(GeneratedObject::Workspace(Workspace::new(name, spec)));
            for &n in &self.workspace_namespaces[w] {
                let ns = Namespace {
                    metadata: ObjectMeta {
                        name: Some(self.namespaces[n as usize].0.clone()),
                        labels: Some(labels(&[(WORKSPACE_LABEL, name)])),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                sink(GeneratedObject::Namespace(ns));
            }
        }
        for (g, name) in self.node_groups.iter().enumerate() {
            let spec = NodeGroupSpec {
                display_name: Some(format!("Node group {name}")),
                node_selector: LabelSelector {
                    match_labels: Some(labels(&[(POOL_LABEL, name)])),
                    match_expressions: None,
                },
                taints: Vec::new(),
                owners: Vec::new(),
            };
            sink(GeneratedObject::NodeGroup(NodeGroup::new(name, spec)));
            for &n in &self.group_nodes[g] {
                let node_name = &self.nodes[n as usize].0;
                let node = Node {
                    metadata: ObjectMeta {
                        name: Some(node_name.clone()),
                        labels: Some(labels(&[
                            ("kubernetes.io/hostname", node_name),
                            (POOL_LABEL, name),
                            (NODEGROUP_LABEL, name),
                        ])),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                sink(GeneratedObject::Node(Box::new(node)));
            }
        }
        for (i, b) in self.bindings.iter().enumerate() {
            if !b.kind.is_role_binding() && !b.kind.is_cluster_role_binding() {
                sink(GeneratedObject::IamRoleBinding(self.iam_binding(i, b)));
            }
        }
        for (name, _) in &self.namespaces {
            sink(GeneratedObject::Role(ci_deployer_role(name)));
        }
        for r in cluster_roles() {
            sink(GeneratedObject::ClusterRole(r));
        }
        for (i, b) in self.bindings.iter().enumerate() {
            if b.kind.is_role_binding() {
                sink(GeneratedObject::RoleBinding(self.role_binding(i, b)));
            }
        }
        for (i, b) in self.bindings.iter().enumerate() {
            if b.kind.is_cluster_role_binding() {
                sink(GeneratedObject::ClusterRoleBinding(
                    self.cluster_role_binding(i, b),
                ));
            }
        }
    }

    fn binding_name(i: usize, b: &PlannedBinding) -> String {
        format!("{}-{i:07}", b.kind.name_prefix())
    }

    fn iam_binding(&self, i: usize, b: &PlannedBinding) -> IamRoleBinding {
        let t = b.target as usize;
        let (role, scope) = match b.kind {
            Kind::PlatformAdmin => ("platform-admin", scope(ScopeKind::Platform, None)),
            Kind::ClusterAdmin => (
                "cluster-administrator",
                scope(ScopeKind::Cluster, Some(&self.clusters[t])),
            ),
            Kind::ClusterViewer => (
                "cluster-viewer",
                scope(ScopeKind::Cluster, Some(&self.clusters[t])),
            ),
            Kind::WorkspaceAdmin => (
                "workspace-admin",
                scope(ScopeKind::Workspace, Some(&self.workspaces[t])),
            ),
            Kind::WorkspaceViewer => (
                "workspace-viewer",
                scope(ScopeKind::Workspace, Some(&self.workspaces[t])),
            ),
            Kind::NodeGroupOperator => (
                "nodegroup-operator",
                scope(ScopeKind::NodeGroup, Some(&self.node_groups[t])),
            ),
            Kind::NodeDebugger => (
                "node-debugger",
                scope(ScopeKind::Node, Some(&self.nodes[t].0)),
            ),
            Kind::NamespaceDeveloper => (
                "namespace-developer",
                scope(ScopeKind::Namespace, Some(&self.namespaces[t].0)),
            ),
            Kind::NamespaceViewer => (
                "namespace-viewer",
                scope(ScopeKind::Namespace, Some(&self.namespaces[t].0)),
            ),
            Kind::Environment => (
                "environment-user",
                ScopeSpec {
                    kind: ScopeKind::Resource,
                    name: Some(self.ide_pod(i, b.who)),
                    namespace: Some(self.namespaces[t].0.clone()),
                    api_group: Some(String::new()),
                    resource: Some("pods".to_string()),
                },
            ),
            other => unreachable!("{other:?} is not an IAMRoleBinding"),
        };
        IamRoleBinding::new(
            &Self::binding_name(i, b),
            IamRoleBindingSpec {
                subjects: vec![self.subject(b.who)],
                role_ref: IamRoleRef {
                    kind: "IAMRole".to_string(),
                    name: role.to_string(),
                    api_group: Some(scopegate_core::model::IAM_GROUP.to_string()),
                },
                scope,
            },
        )
    }

    fn role_binding(&self, i: usize, b: &PlannedBinding) -> RoleBinding {
        let (kind, name) = match b.kind {
            Kind::RoleCiDeployer => ("Role", "ci-deployer"),
            Kind::RoleView => ("ClusterRole", "sg-view"),
            Kind::RoleEdit => ("ClusterRole", "sg-edit"),
            other => unreachable!("{other:?} is not a RoleBinding"),
        };
        RoleBinding {
            metadata: ObjectMeta {
                name: Some(Self::binding_name(i, b)),
                namespace: Some(self.namespaces[b.target as usize].0.clone()),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: RBAC_GROUP.to_string(),
                kind: kind.to_string(),
                name: name.to_string(),
            },
            subjects: Some(vec![self.subject(b.who)]),
        }
    }

    fn cluster_role_binding(&self, i: usize, b: &PlannedBinding) -> ClusterRoleBinding {
        let name = match b.kind {
            Kind::ClusterMonitoring => "sg-monitoring",
            Kind::ClusterNodeReader => "sg-node-reader",
            other => unreachable!("{other:?} is not a ClusterRoleBinding"),
        };
        ClusterRoleBinding {
            metadata: meta(&Self::binding_name(i, b)),
            role_ref: RoleRef {
                api_group: RBAC_GROUP.to_string(),
                kind: "ClusterRole".to_string(),
                name: name.to_string(),
            },
            subjects: Some(vec![self.subject(b.who)]),
        }
    }

    /// The whole policy as objects, ready for `Policy::compile`.
    pub fn objects(&self) -> PolicyObjects {
        let mut o = PolicyObjects::default();
        self.for_each_object(|object| match object {
            GeneratedObject::Cluster(x) => o.clusters.push(x),
            GeneratedObject::RoleTemplate(x) => o.role_templates.push(x),
            GeneratedObject::IamRole(x) => o.iam_roles.push(x),
            GeneratedObject::Workspace(x) => o.workspaces.push(x),
            GeneratedObject::Namespace(x) => o.namespaces.push(x),
            GeneratedObject::NodeGroup(x) => o.node_groups.push(x),
            GeneratedObject::Node(x) => o.nodes.push(*x),
            GeneratedObject::IamRoleBinding(x) => o.iam_role_bindings.push(x),
            GeneratedObject::Role(x) => o.roles.push(x),
            GeneratedObject::ClusterRole(x) => o.cluster_roles.push(x),
            GeneratedObject::RoleBinding(x) => o.role_bindings.push(x),
            GeneratedObject::ClusterRoleBinding(x) => o.cluster_role_bindings.push(x),
        });
        o
    }

    /// Writes the policy as multi-document YAML files into `dir` (created if needed; it must
    /// hold no `*.yaml` file yet, so that a served directory never mixes two policies).
    /// Files are named by content (`00-clusters-000.yaml`, `50-iam-bindings-003.yaml`, ...)
    /// with at most [`DOCUMENTS_PER_FILE`] documents each. Returns the files written.
    pub fn write_yaml_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} already holds manifests ({}); use an empty directory",
                        dir.display(),
                        path.display()
                    ),
                ));
            }
        }
        let mut writer = ChunkedWriter {
            dir: dir.to_path_buf(),
            current: None,
            files: Vec::new(),
            error: None,
        };
        self.for_each_object(|object| {
            if writer.error.is_none()
                && let Err(e) = writer.write(object)
            {
                writer.error = Some(e);
            }
        });
        if let Some(e) = writer.error.take() {
            return Err(e);
        }
        writer.finish()?;
        Ok(writer.files)
    }

    // -----------------------------------------------------------------------------------
    // Requests
    // -----------------------------------------------------------------------------------

    /// `n` requests, drawn with `seed`: about 70% allowed (by bindings of every scope kind)
    /// and 30% that no binding allows, asked by the same users (and a few unknown ones).
    pub fn requests(&self, n: usize, seed: u64) -> Vec<Request> {
        self.labelled_requests(n, seed)
            .into_iter()
            .map(|r| r.request)
            .collect()
    }

    /// Like [`GeneratedPolicy::requests`], with the answer each request must get.
    pub fn labelled_requests(&self, n: usize, seed: u64) -> Vec<LabelledRequest> {
        let mut rng = Rng::new(seed ^ 0xA11C_E5ED_0000_0000 ^ self.config.seed.rotate_left(17));
        (0..n)
            .map(|_| {
                if rng.percent(70) {
                    self.allowed_request(&mut rng)
                } else {
                    self.no_opinion_request(&mut rng)
                }
            })
            .collect()
    }

    fn allowed_request(&self, rng: &mut Rng) -> LabelledRequest {
        // Spread over scope kinds, whatever their share of the bindings.
        const WEIGHTS: [(ScopeKind, u32); 7] = [
            (ScopeKind::Platform, 6),
            (ScopeKind::Cluster, 12),
            (ScopeKind::Workspace, 20),
            (ScopeKind::NodeGroup, 6),
            (ScopeKind::Namespace, 36),
            (ScopeKind::Node, 6),
            (ScopeKind::Resource, 14),
        ];
        let weights: Vec<u32> = WEIGHTS.iter().map(|(_, w)| *w).collect();
        let mut slot = scope_slot(WEIGHTS[rng.weighted(&weights)].0);
        if self.by_scope[slot].is_empty() {
            slot = scope_slot(ScopeKind::Namespace);
        }
        let list = &self.by_scope[slot];
        let index = list[rng.below(list.len())] as usize;
        let b = self.bindings[index];
        let member = self.member(b.who, rng);
        let (user, groups) = self.identity(member);
        let t = b.target as usize;
        let action = match b.kind {
            Kind::PlatformAdmin => match rng.below(4) {
                0 => Act::cluster(
                    "delete",
                    "",
                    "nodes",
                    &self.nodes[rng.below(self.nodes.len())].0,
                ),
                1 => Act::cluster(
                    "create",
                    "apiextensions.k8s.io",
                    "customresourcedefinitions",
                    "",
                ),
                2 => Act::url("get", "/debug/pprof/heap"),
                _ => Act::ns(
                    "get",
                    "",
                    "secrets",
                    "",
                    self.random_namespace(rng),
                    "db-password",
                ),
            },
            Kind::ClusterAdmin if t == 0 => match rng.below(2) {
                0 => Act::cluster(
                    "create",
                    "apiextensions.k8s.io",
                    "customresourcedefinitions",
                    "",
                ),
                _ => Act::ns(
                    "delete",
                    "",
                    "secrets",
                    "",
                    self.random_namespace(rng),
                    "tls",
                ),
            },
            Kind::ClusterAdmin => Act::cluster(
                "update",
                "scope.theriseunion.io",
                "clusters",
                &self.clusters[t],
            ),
            Kind::ClusterViewer if t == 0 => match rng.below(3) {
                0 => Act::cluster("list", "", "namespaces", ""),
                1 => Act::cluster(
                    "get",
                    "",
                    "nodes",
                    &self.nodes[rng.below(self.nodes.len())].0,
                ),
                _ => Act::url("get", "/healthz"),
            },
            Kind::ClusterViewer => Act::cluster(
                "get",
                "scope.theriseunion.io",
                "clusters",
                &self.clusters[t],
            ),
            Kind::ClusterMonitoring => match rng.below(2) {
                0 => Act::url("get", "/metrics"),
                _ => Act::ns("list", "", "pods", "", self.random_namespace(rng), ""),
            },
            Kind::ClusterNodeReader => Act::cluster(
                "get",
                "",
                "nodes",
                &self.nodes[rng.below(self.nodes.len())].0,
            ),
            Kind::WorkspaceAdmin => {
                let ns = self.namespace_of_workspace(t, rng);
                match rng.below(3) {
                    0 => Act::ns("delete", "apps", "deployments", "", ns, "api"),
                    1 => Act::ns("create", "", "pods", "exec", ns, "api-7d9f-x2"),
                    _ => Act::cluster(
                        "patch",
                        "scope.theriseunion.io",
                        "workspaces",
                        &self.workspaces[t],
                    ),
                }
            }
            Kind::WorkspaceViewer => {
                let ns = self.namespace_of_workspace(t, rng);
                match rng.below(4) {
                    0 => Act::ns("list", "", "pods", "", ns, ""),
                    1 => Act::ns("get", "apps", "deployments", "", ns, "api"),
                    2 => Act::ns("get", "", "pods", "log", ns, "api-7d9f-x2"),
                    _ => Act::cluster(
                        "get",
                        "scope.theriseunion.io",
                        "workspaces",
                        &self.workspaces[t],
                    ),
                }
            }
            Kind::NodeGroupOperator => {
                let nodes = &self.group_nodes[t];
                let node = &self.nodes[nodes[rng.below(nodes.len())] as usize].0;
                match rng.below(2) {
                    0 => Act::cluster("patch", "", "nodes", node),
                    _ => Act::cluster_sub("get", "", "nodes", "status", node),
                }
            }
            Kind::NodeDebugger => Act::cluster_sub("get", "", "nodes", "proxy", &self.nodes[t].0),
            Kind::NamespaceDeveloper => {
                let ns = &self.namespaces[t].0;
                match rng.below(3) {
                    0 => Act::ns("create", "apps", "deployments", "", ns, ""),
                    1 => Act::ns("delete", "", "pods", "", ns, "worker-5c8d-q1"),
                    _ => Act::ns("get", "", "pods", "log", ns, "worker-5c8d-q1"),
                }
            }
            Kind::NamespaceViewer => {
                let ns = &self.namespaces[t].0;
                match rng.below(2) {
                    0 => Act::ns("list", "apps", "deployments", "", ns, ""),
                    _ => Act::ns("watch", "", "configmaps", "", ns, ""),
                }
            }
            Kind::Environment => {
                let ns = &self.namespaces[t].0;
                let pod = self.ide_pod(index, b.who);
                match rng.below(2) {
                    0 => Act::ns("create", "", "pods", "exec", ns, &pod),
                    _ => Act::ns("get", "", "pods", "log", ns, &pod),
                }
            }
            Kind::RoleCiDeployer => Act::ns(
                "patch",
                "apps",
                "deployments",
                "",
                &self.namespaces[t].0,
                "api",
            ),
            Kind::RoleView => Act::ns(
                "list",
                "apps",
                "statefulsets",
                "",
                &self.namespaces[t].0,
                "",
            ),
            Kind::RoleEdit => Act::ns(
                "update",
                "",
                "configmaps",
                "",
                &self.namespaces[t].0,
                "settings",
            ),
        };
        LabelledRequest {
            request: action.into_request(user, groups),
            expected: Expected::Allowed(b.kind.scope_kind()),
        }
    }

    fn random_namespace(&self, rng: &mut Rng) -> &str {
        &self.namespaces[rng.below(self.namespaces.len())].0
    }

    fn namespace_of_workspace(&self, w: usize, rng: &mut Rng) -> &str {
        let mine = &self.workspace_namespaces[w];
        &self.namespaces[mine[rng.below(mine.len())] as usize].0
    }

    /// A request no binding allows: an action only administrators hold, asked by an
    /// ordinary user (or CI bot, or cluster admin of another cluster) around where they
    /// work; or an ordinary action asked by a user nobody bound.
    fn no_opinion_request(&self, rng: &mut Rng) -> LabelledRequest {
        let roll = rng.below(100);
        let who = if roll < 80 {
            Who::User(rng.below(self.users()) as u32)
        } else if roll < 88 {
            Who::CiBot(rng.below(self.namespaces.len()) as u32)
        } else if roll < 93 && self.clusters.len() > 1 {
            Who::ClusterAdmin(1 + rng.below(self.clusters.len() - 1) as u32)
        } else {
            // Nobody bound this user: ordinary actions, no opinion.
            let user = format!("guest-{:05}", rng.below(100_000));
            let ns = self.random_namespace(rng).to_string();
            let action = Act::ns("get", "", "pods", "", &ns, "");
            return LabelledRequest {
                request: action.into_request(user, vec!["system:authenticated".to_string()]),
                expected: Expected::NoOpinion,
            };
        };
        let namespace = match who {
            Who::User(u) => {
                let home = self.home(u) as usize;
                self.namespace_of_workspace(home, rng).to_string()
            }
            Who::CiBot(ns) => self.namespaces[ns as usize].0.clone(),
            _ => self.random_namespace(rng).to_string(),
        };
        let workspace = &self.workspaces[self.namespaces_index(&namespace)];
        let node = &self.nodes[rng.below(self.nodes.len())].0;
        let action = match rng.below(8) {
            0 => Act::ns("get", "", "secrets", "", &namespace, "db-password"),
            1 => Act::ns("delete", "", "resourcequotas", "", &namespace, "quota"),
            2 => Act::ns(
                "create",
                "networking.k8s.io",
                "networkpolicies",
                "",
                &namespace,
                "",
            ),
            3 => Act::cluster("delete", "", "nodes", node),
            4 => Act::cluster(
                "create",
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                "",
            ),
            5 => Act::cluster("delete", "", "namespaces", &namespace),
            6 => Act::url("get", "/debug/pprof/heap"),
            _ => Act::cluster("delete", "scope.theriseunion.io", "workspaces", workspace),
        };
        let (user, groups) = self.identity(who);
        LabelledRequest {
            request: action.into_request(user, groups),
            expected: Expected::NoOpinion,
        }
    }

    fn namespaces_index(&self, namespace: &str) -> usize {
        // Names are `ws-NNNNN-suffix`: the workspace index is in the name.
        namespace
            .get(3..8)
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&w| w < self.workspaces.len())
            .unwrap_or_default()
    }
}

/// One object of a generated policy.
#[derive(Clone, Debug)]
pub enum GeneratedObject {
    /// A Cluster.
    Cluster(Cluster),
    /// A RoleTemplate.
    RoleTemplate(RoleTemplate),
    /// An IAMRole.
    IamRole(IamRole),
    /// A Workspace.
    Workspace(Workspace),
    /// A Namespace, labelled with its workspace.
    Namespace(Namespace),
    /// A NodeGroup.
    NodeGroup(NodeGroup),
    /// A Node, labelled with its node group (boxed: a Node is large).
    Node(Box<Node>),
    /// An IAMRoleBinding.
    IamRoleBinding(IamRoleBinding),
    /// A native Role.
    Role(Role),
    /// A native ClusterRole.
    ClusterRole(ClusterRole),
    /// A native RoleBinding.
    RoleBinding(RoleBinding),
    /// A native ClusterRoleBinding.
    ClusterRoleBinding(ClusterRoleBinding),
}

impl GeneratedObject {
    /// The file group the object is written to.
    fn file_stem(&self) -> &'static str {
        match self {
            GeneratedObject::Cluster(_) => "00-clusters",
            GeneratedObject::RoleTemplate(_) => "10-templates",
            GeneratedObject::IamRole(_) => "20-roles",
            GeneratedObject::Workspace(_) | GeneratedObject::Namespace(_) => "30-workspaces",
            GeneratedObject::NodeGroup(_) | GeneratedObject::Node(_) => "40-nodegroups",
            GeneratedObject::IamRoleBinding(_) => "50-iam-bindings",
            GeneratedObject::Role(_) | GeneratedObject::ClusterRole(_) => "60-native-roles",
            GeneratedObject::RoleBinding(_) => "61-rolebindings",
            GeneratedObject::ClusterRoleBinding(_) => "62-clusterrolebindings",
        }
    }

    /// The object as one YAML document (no `---`).
    pub fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        fn y<T: Serialize>(x: &T) -> Result<String, serde_yaml::Error> {
            serde_yaml::to_string(x)
        }
        match self {
            GeneratedObject::Cluster(x) => y(x),
            GeneratedObject::RoleTemplate(x) => y(x),
            GeneratedObject::IamRole(x) => y(x),
            GeneratedObject::Workspace(x) => y(x),
            GeneratedObject::Namespace(x) => y(x),
            GeneratedObject::NodeGroup(x) => y(x),
            GeneratedObject::Node(x) => y(x),
            GeneratedObject::IamRoleBinding(x) => y(x),
            GeneratedObject::Role(x) => y(x),
            GeneratedObject::ClusterRole(x) => y(x),
            GeneratedObject::RoleBinding(x) => y(x),
            GeneratedObject::ClusterRoleBinding(x) => y(x),
        }
    }
}

struct ChunkedWriter {
    dir: PathBuf,
    /// The open file: its stem, chunk number, documents written, and the writer.
    current: Option<(&'static str, usize, usize, io::BufWriter<std::fs::File>)>,
    files: Vec<PathBuf>,
    error: Option<io::Error>,
}

impl ChunkedWriter {
    fn write(&mut self, object: GeneratedObject) -> io::Result<()> {
        let stem = object.file_stem();
        let next_chunk = match &self.current {
            Some((s, chunk, docs, _)) if *s == stem && *docs >= DOCUMENTS_PER_FILE => {
                Some(chunk + 1)
            }
            Some((s, _, _, _)) if *s == stem => None,
            _ => Some(0),
        };
        if let Some(chunk) = next_chunk {
            self.finish()?;
            let path = self.dir.join(format!("{stem}-{chunk:03}.yaml"));
            let file = std::fs::File::create(&path)?;
            self.files.push(path);
            self.current = Some((stem, chunk, 0, io::BufWriter::new(file)));
        }
        let Some((_, _, docs, out)) = self.current.as_mut() else {
            unreachable!("a file was just opened");
        };
        let text = object.to_yaml().map_err(io::Error::other)?;
        out.write_all(b"---\n")?;
        out.write_all(text.as_bytes())?;
        *docs += 1;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if let Some((_, _, _, mut out)) = self.current.take() {
            out.flush()?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// What a generated request must be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Expected {
    /// Allowed. The scope kind is that of the binding the request was drawn from; a more
    /// specific binding of the same subject may allow it first.
    Allowed(ScopeKind),
    /// No binding allows it: the webhook has no opinion.
    NoOpinion,
}

impl Expected {
    /// Whether the request must be allowed.
    pub fn is_allowed(self) -> bool {
        matches!(self, Expected::Allowed(_))
    }
}

/// A request and the answer it must get.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledRequest {
    /// The request.
    pub request: Request,
    /// What the webhook must answer.
    pub expected: Expected,
}

/// A resource action as kube-apiserver would send it (version `v1alpha1` for Scopegate's own
/// group, `v1` otherwise).
pub(crate) fn resource_action(
    verb: &str,
    group: &str,
    resource: &str,
    subresource: &str,
    namespace: &str,
    name: &str,
) -> scopegate_core::Action {
    let version = if group == "scope.theriseunion.io" {
        "v1alpha1"
    } else {
        "v1"
    };
    scopegate_core::Action::Resource(ResourceAttributes {
        verb: verb.to_string(),
        group: group.to_string(),
        version: version.to_string(),
        resource: resource.to_string(),
        subresource: subresource.to_string(),
        name: name.to_string(),
        namespace: namespace.to_string(),
    })
}

/// An action under construction.
struct Act(scopegate_core::Action);

impl Act {
    fn ns(verb: &str, group: &str, resource: &str, sub: &str, namespace: &str, name: &str) -> Act {
        Act(resource_action(verb, group, resource, sub, namespace, name))
    }

    fn cluster(verb: &str, group: &str, resource: &str, name: &str) -> Act {
        Act::ns(verb, group, resource, "", "", name)
    }

    fn cluster_sub(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Act {
        Act::ns(verb, group, resource, sub, "", name)
    }

    fn url(verb: &str, path: &str) -> Act {
        Act(scopegate_core::Action::NonResource(
            scopegate_core::NonResourceAttributes {
                verb: verb.to_string(),
                path: path.to_string(),
            },
        ))
    }

    fn into_request(self, user: String, groups: Vec<String>) -> Request {
        Request {
            uid: format!("uid-{user}"),
            user,
            groups,
            extra: BTreeMap::new(),
            action: self.0,
        }
    }
}

/// The `authorization.k8s.io/v1` SubjectAccessReview kube-apiserver would send for a
/// request, as JSON.
pub fn sar_json(request: &Request) -> serde_json::Value {
    let mut spec = serde_json::Map::new();
    match &request.action {
        scopegate_core::Action::Resource(r) => {
            let mut attrs = serde_json::Map::new();
            let mut put = |k: &str, v: &str| {
                if !v.is_empty() {
                    attrs.insert(k.to_string(), serde_json::Value::from(v));
                }
            };
            put("namespace", &r.namespace);
            put("verb", &r.verb);
            put("group", &r.group);
            put("version", &r.version);
            put("resource", &r.resource);
            put("subresource", &r.subresource);
            put("name", &r.name);
            spec.insert("resourceAttributes".into(), attrs.into());
        }
        scopegate_core::Action::NonResource(n) => {
            spec.insert(
                "nonResourceAttributes".into(),
                serde_json::json!({"path": n.path, "verb": n.verb}),
            );
        }
    }
    spec.insert("user".into(), request.user.clone().into());
    spec.insert("groups".into(), request.groups.clone().into());
    if !request.uid.is_empty() {
        spec.insert("uid".into(), request.uid.clone().into());
    }
    serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": spec,
    })
}

/// The SubjectAccessReview body for a request, as bytes ready to POST.
pub fn sar_body(request: &Request) -> Vec<u8> {
    serde_json::to_vec(&sar_json(request)).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// The fixed part: templates, roles, cluster roles
// ---------------------------------------------------------------------------------------

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        ..Default::default()
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(strings(groups)),
        resources: Some(strings(resources)),
        verbs: strings(verbs),
        resource_names: None,
        non_resource_urls: None,
    }
}

fn url_rule(urls: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: None,
        resources: None,
        verbs: strings(verbs),
        resource_names: None,
        non_resource_urls: Some(strings(urls)),
    }
}

fn scope(kind: ScopeKind, name: Option<&str>) -> ScopeSpec {
    ScopeSpec {
        kind,
        name: name.map(str::to_string),
        namespace: None,
        api_group: None,
        resource: None,
    }
}

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

fn template(name: &str, viewer: bool, rules: Vec<PolicyRule>, ui: &[&str]) -> RoleTemplate {
    let mut t = RoleTemplate::new(
        name,
        RoleTemplateSpec {
            display_name: Some(name.replace('-', " ")),
            description: None,
            rules,
            ui_permissions: strings(ui),
        },
    );
    if viewer {
        t.metadata.labels = Some(labels(&[(VIEWER_TEMPLATE_LABEL, "true")]));
    }
    t
}

/// The RoleTemplates. No template but the two `all-*` ones grants: secrets,
/// resourcequotas deletion, networkpolicies, node deletion, CRDs, namespace deletion,
/// workspace deletion or /debug URLs. The no-opinion requests rely on that.
fn role_templates() -> Vec<RoleTemplate> {
    vec![
        template(
            "all-api-resources",
            false,
            vec![rule(&["*"], &["*"], &["*"])],
            &[],
        ),
        template(
            "all-non-resource-urls",
            false,
            vec![url_rule(&["*"], &["*"])],
            &[],
        ),
        template(
            "platform-console",
            false,
            vec![],
            &[
                "platform.view",
                "platform.clusters.manage",
                "platform.users.manage",
            ],
        ),
        template(
            "cluster-console",
            false,
            vec![],
            &[
                "cluster.view",
                "cluster.nodes.view",
                "cluster.settings.manage",
            ],
        ),
        template(
            "cluster-read",
            false,
            vec![
                rule(&[""], &["nodes", "namespaces", "persistentvolumes"], READ),
                rule(&["storage.k8s.io"], &["storageclasses"], READ),
                rule(&["scope.theriseunion.io"], &["clusters"], &["get"]),
                url_rule(&["/healthz", "/readyz", "/livez", "/version"], &["get"]),
            ],
            &["cluster.view"],
        ),
        template(
            "node-view",
            false,
            vec![rule(&[""], &["nodes", "nodes/status"], READ)],
            &["cluster.nodes.view"],
        ),
        template(
            "node-maintenance",
            false,
            vec![rule(&[""], &["nodes", "nodes/status"], &["patch"])],
            &["nodegroup.nodes.manage"],
        ),
        template(
            "node-debug",
            false,
            vec![rule(
                &[""],
                &["nodes/proxy", "nodes/log"],
                &["get", "create"],
            )],
            &["node.debug"],
        ),
        template(
            "workload-view",
            true,
            vec![
                rule(
                    &[""],
                    &[
                        "pods",
                        "pods/log",
                        "services",
                        "endpoints",
                        "configmaps",
                        "persistentvolumeclaims",
                        "events",
                    ],
                    READ,
                ),
                rule(
                    &["apps"],
                    &["deployments", "replicasets", "statefulsets", "daemonsets"],
                    READ,
                ),
                rule(&["batch"], &["jobs", "cronjobs"], READ),
            ],
            &["workspace.view", "workspace.workloads.view"],
        ),
        template(
            "workspace-settings-view",
            true,
            vec![
                rule(&["scope.theriseunion.io"], &["workspaces"], &["get"]),
                rule(&[""], &["resourcequotas", "limitranges"], READ),
            ],
            &["workspace.settings.view"],
        ),
        template(
            "workload-manage",
            false,
            vec![
                rule(
                    &[""],
                    &[
                        "pods",
                        "services",
                        "endpoints",
                        "configmaps",
                        "persistentvolumeclaims",
                    ],
                    WRITE,
                ),
                rule(
                    &[""],
                    &["pods/exec", "pods/attach", "pods/portforward"],
                    &["get", "create"],
                ),
                rule(
                    &["apps"],
                    &[
                        "deployments",
                        "deployments/scale",
                        "replicasets",
                        "statefulsets",
                    ],
                    WRITE,
                ),
                rule(&["batch"], &["jobs", "cronjobs"], WRITE),
            ],
            &["workspace.workloads.manage"],
        ),
        template(
            "workspace-settings-manage",
            false,
            vec![rule(
                &["scope.theriseunion.io"],
                &["workspaces"],
                &["get", "update", "patch"],
            )],
            &["workspace.settings.manage"],
        ),
        template(
            "app-developer",
            false,
            vec![
                rule(
                    &[""],
                    &["pods", "services"],
                    &["get", "list", "watch", "create", "update", "delete"],
                ),
                rule(
                    &["apps"],
                    &["deployments"],
                    &["get", "list", "watch", "create", "update", "delete"],
                ),
                rule(&[""], &["pods/log"], &["get"]),
            ],
            &["namespace.workloads.manage"],
        ),
        template(
            "ide-access",
            false,
            vec![
                rule(&[""], &["pods", "pods/log"], &["get"]),
                rule(&[""], &["pods/exec"], &["get", "create"]),
            ],
            &["environment.open"],
        ),
    ]
}

fn iam_role(name: &str, scope: ScopeKind, templates: &[&str], select_viewer: bool) -> IamRole {
    IamRole::new(
        name,
        IamRoleSpec {
            scope,
            display_name: Some(name.replace('-', " ")),
            description: None,
            rules: Vec::new(),
            ui_permissions: Vec::new(),
            role_templates: strings(templates),
            template_selector: select_viewer.then(|| LabelSelector {
                match_labels: Some(labels(&[(VIEWER_TEMPLATE_LABEL, "true")])),
                match_expressions: None,
            }),
        },
    )
}

/// The IAMRoles; each is bound only at its own scope kind.
fn iam_roles() -> Vec<IamRole> {
    vec![
        iam_role(
            "platform-admin",
            ScopeKind::Platform,
            &[
                "all-api-resources",
                "all-non-resource-urls",
                "platform-console",
                "cluster-console",
            ],
            false,
        ),
        iam_role(
            "cluster-administrator",
            ScopeKind::Cluster,
            &[
                "all-api-resources",
                "all-non-resource-urls",
                "cluster-console",
            ],
            false,
        ),
        iam_role(
            "cluster-viewer",
            ScopeKind::Cluster,
            &["cluster-read"],
            false,
        ),
        iam_role(
            "workspace-admin",
            ScopeKind::Workspace,
            &["workload-manage", "workspace-settings-manage"],
            true,
        ),
        iam_role("workspace-viewer", ScopeKind::Workspace, &[], true),
        iam_role(
            "nodegroup-operator",
            ScopeKind::NodeGroup,
            &["node-view", "node-maintenance"],
            false,
        ),
        iam_role(
            "node-debugger",
            ScopeKind::Node,
            &["node-view", "node-debug"],
            false,
        ),
        iam_role(
            "namespace-developer",
            ScopeKind::Namespace,
            &["app-developer"],
            false,
        ),
        iam_role(
            "namespace-viewer",
            ScopeKind::Namespace,
            &["workload-view"],
            false,
        ),
        iam_role(
            "environment-user",
            ScopeKind::Resource,
            &["ide-access"],
            false,
        ),
    ]
}

fn ci_deployer_role(namespace: &str) -> Role {
    Role {
        metadata: ObjectMeta {
            name: Some("ci-deployer".to_string()),
            namespace: Some(namespace.to_string()),
            ..Default::default()
        },
        rules: Some(vec![
            rule(
                &["apps"],
                &["deployments"],
                &["get", "list", "watch", "create", "update", "patch"],
            ),
            rule(
                &[""],
                &["services", "configmaps"],
                &["get", "list", "watch", "create", "update", "patch"],
            ),
        ]),
    }
}

fn cluster_role(name: &str, aggregate_to_view: bool, rules: Vec<PolicyRule>) -> ClusterRole {
    let mut role = ClusterRole {
        metadata: meta(name),
        rules: Some(rules),
        aggregation_rule: None,
    };
    if aggregate_to_view {
        role.metadata.labels = Some(labels(&[(AGGREGATE_TO_VIEW_LABEL, "true")]));
    }
    role
}

/// The native ClusterRoles: `sg-view` is aggregated from the two labelled ones.
fn cluster_roles() -> Vec<ClusterRole> {
    let view = ClusterRole {
        metadata: meta("sg-view"),
        rules: Some(Vec::new()),
        aggregation_rule: Some(AggregationRule {
            cluster_role_selectors: Some(vec![LabelSelector {
                match_labels: Some(labels(&[(AGGREGATE_TO_VIEW_LABEL, "true")])),
                match_expressions: None,
            }]),
        }),
    };
    vec![
        view,
        cluster_role(
            "sg-view-core",
            true,
            vec![rule(
                &[""],
                &[
                    "pods",
                    "services",
                    "endpoints",
                    "configmaps",
                    "persistentvolumeclaims",
                ],
                READ,
            )],
        ),
        cluster_role(
            "sg-view-apps",
            true,
            vec![rule(
                &["apps"],
                &["deployments", "replicasets", "statefulsets", "daemonsets"],
                READ,
            )],
        ),
        cluster_role(
            "sg-edit",
            false,
            vec![
                rule(&[""], &["pods", "services", "configmaps"], WRITE),
                rule(&["apps"], &["deployments", "statefulsets"], WRITE),
            ],
        ),
        cluster_role(
            "sg-monitoring",
            false,
            vec![
                url_rule(&["/metrics", "/metrics/*"], &["get"]),
                rule(&[""], &["pods", "services", "endpoints", "nodes"], READ),
            ],
        ),
        cluster_role("sg-node-reader", false, vec![rule(&[""], &["nodes"], READ)]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use scopegate_core::{Policy, PolicyOptions, Severity};

    fn compile(size: PolicySize) -> (GeneratedPolicy, Policy) {
        let plan = GeneratedPolicy::new(size, 42);
        let policy = Policy::compile(&plan.objects(), &PolicyOptions::default());
        (plan, policy)
    }

    fn assert_clean(policy: &Policy) {
        let errors: Vec<String> = policy
            .diagnostics()
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(ToString::to_string)
            .take(10)
            .collect();
        assert!(errors.is_empty(), "errors: {errors:#?}");
    }

    fn assert_requests_match(plan: &GeneratedPolicy, policy: &Policy) {
        let requests = plan.labelled_requests(5_000, 7);
        let mut allowed = 0;
        for r in &requests {
            let decision = policy.decide(&r.request);
            assert_eq!(
                decision.is_allowed(),
                r.expected.is_allowed(),
                "{:?} expected {:?}, got {}",
                r.request,
                r.expected,
                decision
            );
            allowed += usize::from(decision.is_allowed());
        }
        // About 70% allowed.
        assert!((3_000..4_000).contains(&allowed), "{allowed} allowed");
    }

    #[test]
    fn size_1k_compiles_without_errors_and_requests_match() {
        let (plan, policy) = compile(PolicySize::K1);
        assert_clean(&policy);
        assert_eq!(plan.binding_count(), 1_000);
        assert_eq!(policy.grants().len(), 1_000);
        assert_requests_match(&plan, &policy);
    }

    #[test]
    fn size_10k_compiles_without_errors_and_requests_match() {
        let (plan, policy) = compile(PolicySize::K10);
        assert_clean(&policy);
        assert_eq!(policy.grants().len(), 10_000);
        assert_requests_match(&plan, &policy);
    }

    #[test]
    fn every_scope_kind_is_bound_and_allowed() {
        let (plan, policy) = compile(PolicySize::K1);
        for (kind, n) in plan.bindings_by_scope() {
            assert!(n > 0, "no binding at {kind}");
        }
        let mut seen = std::collections::BTreeSet::new();
        for r in plan.labelled_requests(2_000, 3) {
            if let scopegate_core::Decision::Allowed(a) = policy.decide(&r.request) {
                seen.insert(a.grant.scope.kind());
            }
        }
        assert_eq!(seen.len(), 7, "allowed at {seen:?}");
    }

    #[test]
    fn generation_is_deterministic() {
        let a = GeneratedPolicy::new(PolicySize::K1, 9);
        let b = GeneratedPolicy::new(PolicySize::K1, 9);
        let ya: Vec<String> = {
            let mut v = Vec::new();
            a.for_each_object(|o| v.push(o.to_yaml().unwrap()));
            v
        };
        let mut yb = Vec::new();
        b.for_each_object(|o| yb.push(o.to_yaml().unwrap()));
        assert_eq!(ya, yb);
        assert_eq!(a.labelled_requests(100, 1), b.labelled_requests(100, 1));
        let c = GeneratedPolicy::new(PolicySize::K1, 10);
        let mut yc = Vec::new();
        c.for_each_object(|o| yc.push(o.to_yaml().unwrap()));
        assert_ne!(ya, yc);
    }

    #[test]
    fn users_scale_with_size() {
        let plan = GeneratedPolicy::new(PolicySize::K100, 42);
        assert_eq!(plan.binding_count(), 100_000);
        let (users, groups) = plan.distinct_subjects();
        assert!(users >= 10_000, "{users} users");
        assert!(groups > 1_000, "{groups} groups");
    }

    #[test]
    fn yaml_round_trips_through_the_loader() {
        let dir =
            std::env::temp_dir().join(format!("scopegate-benches-yaml-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let plan = GeneratedPolicy::new(PolicySize::K1, 42);
        let files = plan.write_yaml_dir(&dir).unwrap();
        assert!(files.len() >= 8);
        // A second write into the same directory is refused.
        assert!(plan.write_yaml_dir(&dir).is_err());
        let (policy, _) =
            scopegate_core::load::load_policy(&[&dir], &PolicyOptions::default()).unwrap();
        assert_eq!(policy.grants().len(), 1_000);
        let direct = Policy::compile(&plan.objects(), &PolicyOptions::default());
        for r in plan.labelled_requests(500, 11) {
            assert_eq!(
                policy.decide(&r.request).reason(),
                direct.decide(&r.request).reason()
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sar_bodies_decode_to_the_same_request() {
        let plan = GeneratedPolicy::new(PolicySize::K1, 42);
        for r in plan.requests(200, 5) {
            let review = scopegate_core::sar::decode(&sar_body(&r)).unwrap();
            assert_eq!(review.request, r);
        }
    }

    #[test]
    fn sizes_parse() {
        for size in PolicySize::ALL {
            assert_eq!(size.as_str().parse::<PolicySize>(), Ok(size));
        }
        assert_eq!("1M".parse::<PolicySize>(), Ok(PolicySize::M1));
        assert!("2k".parse::<PolicySize>().is_err());
    }
}
