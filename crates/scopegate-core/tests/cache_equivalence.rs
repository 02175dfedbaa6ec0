//! The tiered [`Engine`] against itself uncached, while the policy keeps changing.
//!
//! Proptest draws a small, collision-rich universe (three IAMRoles, two ClusterRoles and an
//! aggregated one, two native Roles, a RoleTemplate, a handful of bindings for alice, bob,
//! their groups and a ServiceAccount; three namespaces, two nodes), a small pool of requests
//! (few subjects, so that both the decision cache and the subject cache get hit), and a
//! sequence of operations that interleaves deciding pool requests with replacing the policy:
//! a fresh universe, or one small mutation of the current one (a binding removed or added,
//! a role's or template's rules changed, a namespace moved into or out of a workspace, a
//! node into or out of a node group), an explicit revocation (remove exactly the binding
//! that just allowed a cached request), or a reload of the same objects.
//!
//! The same sequence runs on four engines: the default configuration (both tiers on), one
//! with tiny tiers (two decisions, one subject), an uncached one, and a tiny one that lives
//! through every sequence of the run (moka applies size bounds in batches, so only a
//! long-lived engine really evicts; it also still holds entries of earlier sequences'
//! policies under the keys later ones ask). After every replacement all engines report the
//! same generation (the long-lived one offset by where it started); every decision of every
//! engine equals `Policy::decide` on a policy compiled afresh from the current objects, and
//! is stamped with the current generation. A third test spells out the revocation case.
//!
//! A second test hammers one shared engine from several threads while another thread flips
//! the policy between a version that allows a request and one that does not: every answer
//! must be what the policy of the generation it names decides, and no answer may come from
//! a generation older than one whose replacement had returned before the request started.

mod common;

use common::generators::{match_labels, meta};
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef,
    Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::test_runner::{TestError, TestRunner};
use scopegate_core::engine::NotLoaded;
use scopegate_core::model::{
    Cluster, ClusterSpec, IAM_GROUP, IamRole, IamRoleBinding, IamRoleBindingSpec, IamRoleRef,
    IamRoleSpec, NODEGROUP_LABEL, NodeGroup, NodeGroupSpec, RoleTemplate, RoleTemplateSpec,
    SCOPE_GROUP, ScopeKind, ScopeSpec, WORKSPACE_LABEL, Workspace, WorkspaceSpec,
};
use scopegate_core::{
    Action, Decision, Engine, EngineConfig, NonResourceAttributes, ObjectKind, ObjectRef, Policy,
    PolicyObjects, PolicyOptions, Request, ResourceAttributes, Tier,
};
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Sequences drawn by the interleaving property.
const CASES: u32 = 1_000;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

// ---------------------------------------------------------------------------------------
// The universe: a compact description of a policy that is easy to mutate one piece at a
// time, turned into `PolicyObjects` on every replacement.
// ---------------------------------------------------------------------------------------

const IAM_ROLES: [&str; 3] = ["r1", "r2", "r3"];
/// ClusterRoles with rules of their own; `cr-agg` aggregates those labelled `agg: yes`.
const CLUSTER_ROLES: [&str; 2] = ["cr-a", "cr-b"];
const AGGREGATED: &str = "cr-agg";
/// Native Roles: (namespace, name).
const NATIVE_ROLES: [(&str, &str); 2] = [("ns-1", "role-a"), ("ns-2", "role-b")];
const TEMPLATE: &str = "t1";
const NAMESPACES: [&str; 3] = ["ns-1", "ns-2", "ns-3"];
const NODES: [&str; 2] = ["n1", "n2"];
/// Rule sets that can be changed: the IAMRoles, then the ClusterRoles, the native Roles and
/// the template.
const RULE_SLOTS: usize = IAM_ROLES.len() + CLUSTER_ROLES.len() + NATIVE_ROLES.len() + 1;

#[derive(Clone, Debug)]
struct IamRoleDef {
    kind: ScopeKind,
    rules: Vec<PolicyRule>,
    uses_template: bool,
}

#[derive(Clone, Debug)]
struct ClusterRoleDef {
    /// Labelled `agg: yes`, so that `cr-agg` includes its rules.
    aggregated_into: bool,
    rules: Vec<PolicyRule>,
}

/// Where an IAMRoleBinding binds: usually at its role's kind (`fit`), by an index into the
/// names of that kind.
#[derive(Clone, Debug)]
struct ScopePick {
    kind: ScopeKind,
    index: usize,
    fit: bool,
}

#[derive(Clone, Debug)]
enum NativeRoleRef {
    Role(&'static str),
    ClusterRole(&'static str),
}

#[derive(Clone, Debug)]
enum BindingDef {
    Iam {
        name: &'static str,
        role: &'static str,
        subjects: Vec<Subject>,
        scope: ScopePick,
    },
    RoleBinding {
        namespace: &'static str,
        name: &'static str,
        role: NativeRoleRef,
        subjects: Vec<Subject>,
    },
    ClusterRoleBinding {
        name: &'static str,
        role: &'static str,
        subjects: Vec<Subject>,
    },
}

impl BindingDef {
    /// The object this binding becomes, as a decision names it.
    fn object_ref(&self) -> ObjectRef {
        match self {
            BindingDef::Iam { name, .. } => {
                ObjectRef::cluster_scoped(ObjectKind::IamRoleBinding, *name)
            }
            BindingDef::RoleBinding {
                namespace, name, ..
            } => ObjectRef::namespaced(ObjectKind::RoleBinding, *namespace, *name),
            BindingDef::ClusterRoleBinding { name, .. } => {
                ObjectRef::cluster_scoped(ObjectKind::ClusterRoleBinding, *name)
            }
        }
    }
}

#[derive(Clone, Debug)]
struct World {
    iam_roles: Vec<IamRoleDef>,
    cluster_roles: Vec<ClusterRoleDef>,
    native_roles: Vec<Vec<PolicyRule>>,
    template: Vec<PolicyRule>,
    bindings: Vec<BindingDef>,
    namespace_workspace: [Option<&'static str>; 3],
    node_group: [Option<&'static str>; 2],
}

fn scope_spec(kind: ScopeKind, index: usize) -> ScopeSpec {
    let named = |names: &[&str]| ScopeSpec {
        kind,
        name: Some(names[index % names.len()].to_string()),
        namespace: None,
        api_group: None,
        resource: None,
    };
    match kind {
        ScopeKind::Platform => ScopeSpec {
            kind,
            name: None,
            namespace: None,
            api_group: None,
            resource: None,
        },
        ScopeKind::Cluster => named(&["default", "default", "other"]),
        ScopeKind::Workspace => named(&["ws-a", "ws-b"]),
        ScopeKind::NodeGroup => named(&["ng-a"]),
        ScopeKind::Namespace => named(&NAMESPACES),
        ScopeKind::Node => named(&NODES),
        ScopeKind::Resource => {
            let targets = [
                ("ns-1", "", "pods", "p1"),
                ("ns-2", "", "pods", "p1"),
                ("ns-1", "apps", "deployments", "p1"),
                ("", "", "nodes", "n1"),
                ("", "", "namespaces", "ns-1"),
            ];
            let (ns, group, resource, name) = targets[index % targets.len()];
            ScopeSpec {
                kind,
                name: Some(name.to_string()),
                namespace: Some(ns.to_string()),
                api_group: Some(group.to_string()),
                resource: Some(resource.to_string()),
            }
        }
    }
}

impl World {
    fn objects(&self) -> PolicyObjects {
        let mut o = PolicyObjects {
            role_templates: vec![RoleTemplate::new(
                TEMPLATE,
                RoleTemplateSpec {
                    rules: self.template.clone(),
                    ..Default::default()
                },
            )],
            clusters: vec![Cluster::new("other", ClusterSpec::default())],
            workspaces: vec![
                Workspace::new("ws-a", WorkspaceSpec::default()),
                Workspace::new("ws-b", WorkspaceSpec::default()),
            ],
            node_groups: vec![NodeGroup::new(
                "ng-a",
                NodeGroupSpec {
                    node_selector: match_labels(&[(NODEGROUP_LABEL, "ng-a")]),
                    ..Default::default()
                },
            )],
            ..Default::default()
        };
        for (name, def) in IAM_ROLES.iter().zip(&self.iam_roles) {
            o.iam_roles.push(IamRole::new(
                name,
                IamRoleSpec {
                    scope: def.kind,
                    display_name: None,
                    description: None,
                    rules: def.rules.clone(),
                    ui_permissions: Vec::new(),
                    role_templates: if def.uses_template {
                        vec![TEMPLATE.to_string()]
                    } else {
                        Vec::new()
                    },
                    template_selector: None,
                },
            ));
        }
        for (name, def) in CLUSTER_ROLES.iter().zip(&self.cluster_roles) {
            let labels: &[(&str, &str)] = if def.aggregated_into {
                &[("agg", "yes")]
            } else {
                &[]
            };
            o.cluster_roles.push(ClusterRole {
                metadata: meta(name, labels),
                rules: Some(def.rules.clone()),
                aggregation_rule: None,
            });
        }
        o.cluster_roles.push(ClusterRole {
            metadata: meta(AGGREGATED, &[]),
            rules: None,
            aggregation_rule: Some(AggregationRule {
                cluster_role_selectors: Some(vec![match_labels(&[("agg", "yes")])]),
            }),
        });
        for ((ns, name), rules) in NATIVE_ROLES.iter().zip(&self.native_roles) {
            o.roles.push(Role {
                metadata: ObjectMeta {
                    namespace: Some(ns.to_string()),
                    ..meta(name, &[])
                },
                rules: Some(rules.clone()),
            });
        }
        for binding in &self.bindings {
            match binding {
                BindingDef::Iam {
                    name,
                    role,
                    subjects,
                    scope,
                } => {
                    let kind = self.iam_scope_kind(role, scope);
                    o.iam_role_bindings.push(IamRoleBinding::new(
                        name,
                        IamRoleBindingSpec {
                            subjects: subjects.clone(),
                            role_ref: IamRoleRef {
                                kind: "IAMRole".into(),
                                name: role.to_string(),
                                api_group: Some(IAM_GROUP.to_string()),
                            },
                            scope: scope_spec(kind, scope.index),
                        },
                    ));
                }
                BindingDef::RoleBinding {
                    namespace,
                    name,
                    role,
                    subjects,
                } => {
                    let (kind, role) = match role {
                        NativeRoleRef::Role(r) => ("Role", *r),
                        NativeRoleRef::ClusterRole(r) => ("ClusterRole", *r),
                    };
                    o.role_bindings.push(RoleBinding {
                        metadata: ObjectMeta {
                            namespace: Some(namespace.to_string()),
                            ..meta(name, &[])
                        },
                        role_ref: RoleRef {
                            api_group: RBAC_GROUP.into(),
                            kind: kind.into(),
                            name: role.into(),
                        },
                        subjects: Some(subjects.clone()),
                    });
                }
                BindingDef::ClusterRoleBinding {
                    name,
                    role,
                    subjects,
                } => o.cluster_role_bindings.push(ClusterRoleBinding {
                    metadata: meta(name, &[]),
                    role_ref: RoleRef {
                        api_group: RBAC_GROUP.into(),
                        kind: "ClusterRole".into(),
                        name: role.to_string(),
                    },
                    subjects: Some(subjects.clone()),
                }),
            }
        }
        for (name, ws) in NAMESPACES.iter().zip(self.namespace_workspace) {
            o.namespaces.push(Namespace {
                metadata: match ws {
                    Some(ws) => meta(name, &[(WORKSPACE_LABEL, ws)]),
                    None => meta(name, &[]),
                },
                ..Default::default()
            });
        }
        for (name, group) in NODES.iter().zip(self.node_group) {
            o.nodes.push(Node {
                metadata: match group {
                    Some(g) => meta(name, &[(NODEGROUP_LABEL, g)]),
                    None => meta(name, &[]),
                },
                ..Default::default()
            });
        }
        o
    }

    fn apply(&mut self, mutation: &Mutation) {
        match mutation {
            Mutation::RemoveBinding(i) => {
                if !self.bindings.is_empty() {
                    let i = i % self.bindings.len();
                    self.bindings.remove(i);
                }
            }
            Mutation::AddBinding(b) => self.bindings.push(b.clone()),
            Mutation::SetRules(slot, rules) => {
                let mut slot = slot % RULE_SLOTS;
                if slot < IAM_ROLES.len() {
                    self.iam_roles[slot].rules = rules.clone();
                    return;
                }
                slot -= IAM_ROLES.len();
                if slot < CLUSTER_ROLES.len() {
                    self.cluster_roles[slot].rules = rules.clone();
                    return;
                }
                slot -= CLUSTER_ROLES.len();
                if slot < NATIVE_ROLES.len() {
                    self.native_roles[slot] = rules.clone();
                    return;
                }
                self.template = rules.clone();
            }
            Mutation::ToggleAggregation(i) => {
                let role = &mut self.cluster_roles[i % CLUSTER_ROLES.len()];
                role.aggregated_into = !role.aggregated_into;
            }
            Mutation::RelabelNamespace(i, ws) => {
                self.namespace_workspace[i % NAMESPACES.len()] = *ws
            }
            Mutation::RelabelNode(i, group) => self.node_group[i % NODES.len()] = *group,
            Mutation::Fresh(world) => *self = world.clone(),
        }
    }

    /// The kind an IAMRoleBinding binds at: its role's, unless it was drawn not to fit.
    fn iam_scope_kind(&self, role: &str, scope: &ScopePick) -> ScopeKind {
        let role_kind = IAM_ROLES
            .iter()
            .position(|r| *r == role)
            .map(|i| self.iam_roles[i].kind);
        match role_kind {
            Some(kind) if scope.fit => kind,
            _ => scope.kind,
        }
    }

    /// The rules of the role a binding names, roughly as the engine resolves them: only
    /// used to aim requests, never to decide them.
    fn rules_of(&self, binding: &BindingDef) -> Vec<PolicyRule> {
        let cluster_role = |name: &str| -> Vec<PolicyRule> {
            if name == AGGREGATED {
                return self
                    .cluster_roles
                    .iter()
                    .filter(|r| r.aggregated_into)
                    .flat_map(|r| r.rules.iter().cloned())
                    .collect();
            }
            CLUSTER_ROLES
                .iter()
                .position(|r| *r == name)
                .map(|i| self.cluster_roles[i].rules.clone())
                .unwrap_or_default()
        };
        match binding {
            BindingDef::Iam { role, .. } => IAM_ROLES
                .iter()
                .position(|r| r == role)
                .map(|i| {
                    let def = &self.iam_roles[i];
                    let mut rules = def.rules.clone();
                    if def.uses_template {
                        rules.extend(self.template.iter().cloned());
                    }
                    rules
                })
                .unwrap_or_default(),
            BindingDef::RoleBinding {
                namespace,
                role: NativeRoleRef::Role(name),
                ..
            } => NATIVE_ROLES
                .iter()
                .position(|(ns, n)| ns == namespace && n == name)
                .map(|i| self.native_roles[i].clone())
                .unwrap_or_default(),
            BindingDef::RoleBinding {
                role: NativeRoleRef::ClusterRole(name),
                ..
            }
            | BindingDef::ClusterRoleBinding { role: name, .. } => cluster_role(name),
        }
    }

    /// Where a binding acts, as a place to aim a request at.
    fn place_of(&self, binding: &BindingDef) -> Place {
        let object = |namespace: &str, group: &str, resource: &str, name: &str| Place::Object {
            namespace: namespace.into(),
            group: group.into(),
            resource: resource.into(),
            name: name.into(),
        };
        let (role, scope) = match binding {
            BindingDef::RoleBinding { namespace, .. } => {
                return Place::Namespace(namespace.to_string());
            }
            BindingDef::ClusterRoleBinding { .. } => return Place::Anywhere,
            BindingDef::Iam { role, scope, .. } => (role, scope),
        };
        let kind = self.iam_scope_kind(role, scope);
        let spec = scope_spec(kind, scope.index);
        let name = spec.name.clone().unwrap_or_default();
        match kind {
            ScopeKind::Platform => Place::Anywhere,
            ScopeKind::Cluster if name == "default" => Place::Anywhere,
            ScopeKind::Cluster => object("", SCOPE_GROUP, "clusters", &name),
            ScopeKind::Workspace => NAMESPACES
                .iter()
                .zip(self.namespace_workspace)
                .find(|(_, ws)| *ws == Some(name.as_str()))
                .map(|(ns, _)| Place::Namespace(ns.to_string()))
                .unwrap_or_else(|| object("", SCOPE_GROUP, "workspaces", &name)),
            ScopeKind::NodeGroup => NODES
                .iter()
                .zip(self.node_group)
                .find(|(_, g)| *g == Some(name.as_str()))
                .map(|(node, _)| Place::Node(node.to_string()))
                .unwrap_or_else(|| object("", SCOPE_GROUP, "nodegroups", &name)),
            ScopeKind::Namespace => Place::Namespace(name),
            ScopeKind::Node => Place::Node(name),
            ScopeKind::Resource => object(
                spec.namespace.as_deref().unwrap_or_default(),
                spec.api_group.as_deref().unwrap_or_default(),
                spec.resource.as_deref().unwrap_or_default(),
                &name,
            ),
        }
    }

    /// A request aimed at one of the bindings: one of its subjects, somewhere it acts, for
    /// something one of its role's rules covers. Often allowed; not always (the aim is
    /// rough on purpose, and the universe changes after the pool is drawn).
    fn aim(&self, picks: [usize; 4], uid: &str) -> Option<Request> {
        // The picked binding, or the next one that can be aimed at.
        (0..self.bindings.len()).find_map(|i| {
            let binding = &self.bindings[(picks[0] + i) % self.bindings.len()];
            self.aim_at(binding, picks, uid)
        })
    }

    fn aim_at(&self, binding: &BindingDef, picks: [usize; 4], uid: &str) -> Option<Request> {
        let place = self.place_of(binding);
        let subjects = match binding {
            BindingDef::Iam { subjects, .. }
            | BindingDef::RoleBinding { subjects, .. }
            | BindingDef::ClusterRoleBinding { subjects, .. } => subjects,
        };
        let subject = subjects.get(picks[1] % subjects.len().max(1))?;
        let with_dev = picks[1] / subjects.len() % 2 == 1;
        let (user, groups) = match subject.kind.as_str() {
            "User" if with_dev => (subject.name.clone(), strings(&["dev"])),
            "User" => (subject.name.clone(), Vec::new()),
            "Group" => ("carol".to_string(), vec![subject.name.clone()]),
            _ => {
                let ns = match (&subject.namespace, &place) {
                    (Some(ns), _) => ns.clone(),
                    (None, Place::Namespace(ns)) => ns.clone(),
                    (None, Place::Object { namespace, .. }) if !namespace.is_empty() => {
                        namespace.clone()
                    }
                    _ => return None,
                };
                (
                    format!("system:serviceaccount:{ns}:{}", subject.name),
                    Vec::new(),
                )
            }
        };
        let rules = self.rules_of(binding);
        // The picked rule, or the next one that names what the place is about.
        let fits = |rule: &PolicyRule| {
            let wanted = match &place {
                Place::Anywhere | Place::Namespace(_) => return true,
                Place::Node(_) => "nodes",
                Place::Object { resource, .. } => resource,
            };
            rule.resources
                .iter()
                .flatten()
                .any(|r| r == "*" || r.split('/').next() == Some(wanted))
        };
        let rule = (0..rules.len())
            .map(|i| &rules[(picks[2] + i) % rules.len()])
            .find(|rule| fits(rule))
            .or_else(|| rules.get(picks[2] % rules.len().max(1)))?;
        Some(Request {
            user,
            groups,
            uid: uid.into(),
            action: aimed_action(rule, &place, picks[3])?,
            ..Default::default()
        })
    }

    /// Removes every binding object that a decision names as `binding`.
    fn revoke(&mut self, binding: &ObjectRef) -> bool {
        let before = self.bindings.len();
        self.bindings.retain(|b| b.object_ref() != *binding);
        self.bindings.len() < before
    }
}

/// Where a binding acts, for aiming requests.
#[derive(Clone, Debug)]
enum Place {
    /// The served cluster or the platform: any request's chain reaches it.
    Anywhere,
    Namespace(String),
    Node(String),
    /// One object (a Resource scope), or a workspace, node group or cluster object.
    Object {
        namespace: String,
        group: String,
        resource: String,
        name: String,
    },
}

/// An action at `place` that `rule` probably covers.
fn aimed_action(rule: &PolicyRule, place: &Place, pick: usize) -> Option<Action> {
    let verb = match rule.verbs.first().map(String::as_str) {
        Some("*") | None => ["get", "list", "delete"][pick % 3],
        Some(v) => v,
    }
    .to_string();
    if let Some(url) = rule.non_resource_urls.iter().flatten().next() {
        if !matches!(place, Place::Anywhere) {
            return None;
        }
        let path = match url.as_str() {
            "*" => "/metrics",
            "/apis/*" => "/apis/apps",
            other => other,
        };
        return Some(Action::NonResource(NonResourceAttributes {
            verb,
            path: path.into(),
        }));
    }
    let group = rule.api_groups.iter().flatten().next()?.clone();
    let written = rule.resources.iter().flatten().next()?.clone();
    let (resource, subresource) = match written.split_once('/') {
        Some(("*", sub)) => ("pods".to_string(), sub.to_string()),
        Some((r, sub)) => (r.to_string(), sub.to_string()),
        None => (written, String::new()),
    };
    let name = rule.resource_names.iter().flatten().next().cloned();
    let attrs = match place {
        Place::Anywhere | Place::Namespace(_) => {
            let (group, resource) = match (group.as_str(), resource.as_str()) {
                ("*", "*") | ("", "*") => (String::new(), "pods".to_string()),
                ("*", r) => (String::new(), r.to_string()),
                _ => (group, resource),
            };
            let namespace = match place {
                Place::Namespace(ns) => ns.clone(),
                _ => ["", "ns-1", "ns-2"][pick / 3 % 3].to_string(),
            };
            ResourceAttributes {
                verb,
                group,
                version: "v1".into(),
                resource,
                subresource,
                name: name.unwrap_or_else(|| ["", "p1"][pick / 9 % 2].to_string()),
                namespace,
            }
        }
        Place::Node(node) => ResourceAttributes {
            verb,
            version: "v1".into(),
            resource: "nodes".into(),
            subresource,
            name: node.clone(),
            ..Default::default()
        },
        Place::Object {
            namespace,
            group,
            resource,
            name,
        } => ResourceAttributes {
            verb,
            group: group.clone(),
            version: "v1".into(),
            resource: resource.clone(),
            subresource,
            name: name.clone(),
            namespace: namespace.clone(),
        },
    };
    Some(Action::Resource(attrs))
}

#[derive(Clone, Debug)]
enum Mutation {
    RemoveBinding(usize),
    AddBinding(BindingDef),
    SetRules(usize, Vec<PolicyRule>),
    ToggleAggregation(usize),
    RelabelNamespace(usize, Option<&'static str>),
    RelabelNode(usize, Option<&'static str>),
    Fresh(World),
}

#[derive(Clone, Debug)]
enum Op {
    /// Decide the pool's request (index taken modulo the pool's size).
    Decide(usize),
    /// Change the universe and replace the policy.
    Mutate(Mutation),
    /// Decide the request twice (so it is cached); if allowed, remove the binding that
    /// allowed it, replace, and decide it again.
    Revoke(usize),
    /// Replace the policy with one built from the same objects.
    Reload,
}

/// A request of the pool: drawn at random, or aimed at one of the first universe's
/// bindings (falling back to the random one when the aim finds nothing).
#[derive(Clone, Debug)]
struct PoolEntry {
    random: Request,
    aim: Option<[usize; 4]>,
}

#[derive(Clone, Debug)]
struct Case {
    world: World,
    pool: Vec<PoolEntry>,
    ops: Vec<Op>,
}

// ---------------------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------------------

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn verbs() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        1 => Just(strings(&["*"])),
        3 => subsequence(vec!["get", "list", "create", "delete"], 1..=2).prop_map(|v| strings(&v)),
    ]
}

/// (apiGroups, resources) that belong together, subresources and wildcards included.
const RESOURCE_SETS: &[(&str, &[&str])] = &[
    ("", &["pods"]),
    ("", &["pods", "pods/log"]),
    ("", &["*/log"]),
    ("", &["pods/status"]),
    ("apps", &["deployments"]),
    ("", &["nodes"]),
    ("", &["nodes/status"]),
    (SCOPE_GROUP, &["workspaces", "nodegroups"]),
    (SCOPE_GROUP, &["clusters"]),
    ("", &["namespaces"]),
    ("", &["*"]),
    ("*", &["*"]),
    ("*", &["pods"]),
];

fn rule() -> impl Strategy<Value = PolicyRule> {
    let resource_rule = (
        verbs(),
        select(RESOURCE_SETS),
        prop::option::weighted(
            0.2,
            select(vec![
                vec!["p1"],
                vec!["n1"],
                vec!["ws-a", "p2"],
                vec!["ns-1"],
            ]),
        ),
    )
        .prop_map(|(verbs, (group, resources), names)| PolicyRule {
            verbs,
            api_groups: Some(strings(&[group])),
            resources: Some(strings(resources)),
            resource_names: names.map(|n| strings(&n)),
            non_resource_urls: None,
        });
    let url_rule = (
        verbs(),
        subsequence(vec!["/metrics", "/healthz", "/apis/*", "*"], 1..=2),
    )
        .prop_map(|(verbs, urls)| PolicyRule {
            verbs,
            non_resource_urls: Some(strings(&urls)),
            ..Default::default()
        });
    prop_oneof![5 => resource_rule, 1 => url_rule]
}

fn rules() -> impl Strategy<Value = Vec<PolicyRule>> {
    prop_oneof![1 => Just(Vec::new()), 5 => prop::collection::vec(rule(), 1..=2)]
}

fn subject() -> impl Strategy<Value = Subject> {
    let make = |kind: &str, name: &str, namespace: Option<&str>| Subject {
        kind: kind.to_string(),
        name: name.to_string(),
        namespace: namespace.map(str::to_string),
        api_group: None,
    };
    prop_oneof![
        4 => select(vec!["alice", "bob"]).prop_map(move |n| make("User", n, None)),
        3 => select(vec!["dev", "ops"]).prop_map(move |n| make("Group", n, None)),
        1 => select(vec![None, Some("ns-1")]).prop_map(move |ns| make("ServiceAccount", "sa", ns)),
    ]
}

fn subjects() -> impl Strategy<Value = Vec<Subject>> {
    prop::collection::vec(subject(), 1..=2)
}

fn scope_pick() -> impl Strategy<Value = ScopePick> {
    (
        select(ScopeKind::ALL.to_vec()),
        0..16usize,
        prop::bool::weighted(0.9),
    )
        .prop_map(|(kind, index, fit)| ScopePick { kind, index, fit })
}

fn binding() -> impl Strategy<Value = BindingDef> {
    let iam = (
        select(vec!["b1", "b2", "b3", "b4"]),
        select(vec!["r1", "r2", "r3", "r1", "r2", "r3", "r-missing"]),
        subjects(),
        scope_pick(),
    )
        .prop_map(|(name, role, subjects, scope)| BindingDef::Iam {
            name,
            role,
            subjects,
            scope,
        });
    let role_binding = (
        select(NAMESPACES.to_vec()),
        select(vec!["rb1", "rb2"]),
        select(vec![
            NativeRoleRef::Role("role-a"),
            NativeRoleRef::Role("role-b"),
            NativeRoleRef::ClusterRole("cr-a"),
            NativeRoleRef::ClusterRole("cr-b"),
            NativeRoleRef::ClusterRole(AGGREGATED),
        ]),
        subjects(),
    )
        .prop_map(
            |(namespace, name, role, subjects)| BindingDef::RoleBinding {
                namespace,
                name,
                role,
                subjects,
            },
        );
    let cluster_role_binding = (
        select(vec!["crb1", "crb2"]),
        select(vec!["cr-a", "cr-b", AGGREGATED]),
        subjects(),
    )
        .prop_map(|(name, role, subjects)| BindingDef::ClusterRoleBinding {
            name,
            role,
            subjects,
        });
    prop_oneof![4 => iam, 2 => role_binding, 1 => cluster_role_binding]
}

fn workspace_label() -> impl Strategy<Value = Option<&'static str>> {
    select(vec![None, Some("ws-a"), Some("ws-a"), Some("ws-b")])
}

fn node_group_label() -> impl Strategy<Value = Option<&'static str>> {
    select(vec![None, Some("ng-a"), Some("ng-a")])
}

fn world() -> impl Strategy<Value = World> {
    let iam_role = (
        select(ScopeKind::ALL.to_vec()),
        rules(),
        prop::bool::weighted(0.25),
    )
        .prop_map(|(kind, rules, uses_template)| IamRoleDef {
            kind,
            rules,
            uses_template,
        });
    let cluster_role =
        (any::<bool>(), rules()).prop_map(|(aggregated_into, rules)| ClusterRoleDef {
            aggregated_into,
            rules,
        });
    (
        prop::collection::vec(iam_role, IAM_ROLES.len()),
        prop::collection::vec(cluster_role, CLUSTER_ROLES.len()),
        prop::collection::vec(rules(), NATIVE_ROLES.len()),
        rules(),
        prop::collection::vec(binding(), 1..=6),
        prop::array::uniform3(workspace_label()),
        prop::array::uniform2(node_group_label()),
    )
        .prop_map(
            |(iam_roles, cluster_roles, native_roles, template, bindings, ns, nodes)| World {
                iam_roles,
                cluster_roles,
                native_roles,
                template,
                bindings,
                namespace_workspace: ns,
                node_group: nodes,
            },
        )
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (0..8usize).prop_map(Mutation::RemoveBinding),
        3 => binding().prop_map(Mutation::AddBinding),
        2 => (0..RULE_SLOTS, rules()).prop_map(|(slot, r)| Mutation::SetRules(slot, r)),
        1 => (0..CLUSTER_ROLES.len()).prop_map(Mutation::ToggleAggregation),
        2 => (0..NAMESPACES.len(), workspace_label())
            .prop_map(|(i, ws)| Mutation::RelabelNamespace(i, ws)),
        1 => (0..NODES.len(), node_group_label()).prop_map(|(i, g)| Mutation::RelabelNode(i, g)),
        1 => world().prop_map(Mutation::Fresh),
    ]
}

/// Who asks: the same user with groups in another order is another cache key, and must get
/// the same answer.
const WHO: &[(&str, &[&str])] = &[
    ("alice", &[]),
    ("alice", &["dev"]),
    ("alice", &["dev", "ops"]),
    ("alice", &["ops", "dev"]),
    ("bob", &[]),
    ("bob", &["ops"]),
    ("system:serviceaccount:ns-1:sa", &[]),
    ("carol", &["dev"]),
];

fn action() -> impl Strategy<Value = Action> {
    let attrs = |verb: &str, group: &str, resource: &str, sub: &str, name: &str, ns: &str| {
        Action::Resource(ResourceAttributes {
            verb: verb.into(),
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
            namespace: ns.into(),
        })
    };
    let verb = || select(vec!["get", "list", "create", "delete"]);
    let namespaced = (
        verb(),
        select(vec![("", "pods"), ("", "pods"), ("apps", "deployments")]),
        select(vec!["", "", "log", "status"]),
        select(vec!["", "p1", "p1", "p2"]),
        select(NAMESPACES.to_vec()),
    )
        .prop_map(move |(v, (g, r), s, n, ns)| attrs(v, g, r, s, n, ns));
    let node = (
        verb(),
        select(vec!["", "", "status"]),
        select(vec!["", "n1", "n2"]),
    )
        .prop_map(move |(v, s, n)| attrs(v, "", "nodes", s, n, ""));
    let scope_object = (
        verb(),
        select(vec![
            ("workspaces", "ws-a"),
            ("workspaces", "ws-b"),
            ("nodegroups", "ng-a"),
            ("clusters", "default"),
            ("clusters", "other"),
        ]),
    )
        .prop_map(move |(v, (r, n))| attrs(v, SCOPE_GROUP, r, "", n, ""));
    let cluster_scoped = (verb(), select(vec!["", "ns-1"]))
        .prop_map(move |(v, n)| attrs(v, "", "namespaces", "", n, ""));
    let non_resource = (
        select(vec!["get", "post"]),
        select(vec!["/metrics", "/healthz", "/apis/apps", "/api"]),
    )
        .prop_map(|(verb, path)| {
            Action::NonResource(NonResourceAttributes {
                verb: verb.into(),
                path: path.into(),
            })
        });
    prop_oneof![
        5 => namespaced,
        2 => node,
        2 => scope_object,
        1 => cluster_scoped,
        1 => non_resource,
    ]
}

/// A pool of requests: the random ones from one to three subjects, so that subjects repeat
/// across actions; most aimed at bindings, so that allows are frequent.
fn pool() -> impl Strategy<Value = Vec<PoolEntry>> {
    (
        subsequence(WHO.to_vec(), 1..=3),
        prop::collection::vec(
            (
                0..3usize,
                action(),
                select(vec!["", "uid-1"]),
                prop::option::weighted(0.75, prop::array::uniform4(0..64usize)),
            ),
            4..=10,
        ),
    )
        .prop_map(|(who, picks)| {
            picks
                .into_iter()
                .map(|(i, action, uid, aim)| {
                    let (user, groups) = who[i % who.len()];
                    let random = Request {
                        user: user.into(),
                        groups: strings(groups),
                        uid: uid.into(),
                        action,
                        ..Default::default()
                    };
                    PoolEntry { random, aim }
                })
                .collect()
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        16 => (0..16usize).prop_map(Op::Decide),
        3 => mutation().prop_map(Op::Mutate),
        1 => (0..16usize).prop_map(Op::Revoke),
        1 => Just(Op::Reload),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (world(), pool(), prop::collection::vec(op(), 30..=60)).prop_map(|(world, pool, ops)| Case {
        world,
        pool,
        ops,
    })
}

// ---------------------------------------------------------------------------------------
// Running a sequence.
// ---------------------------------------------------------------------------------------

/// Counts over the whole run, so that the property cannot pass vacuously.
#[derive(Debug, Default)]
struct Totals {
    decides: u64,
    allowed: u64,
    replaces: u64,
    /// Answers of the default engine by tier: decision cache, subject cache, policy.
    default_tiers: [u64; 3],
    /// Answers of the tiny engine by tier.
    tiny_tiers: [u64; 3],
    /// Answers of the long-lived tiny engine by tier.
    shared_tiers: [u64; 3],
    /// Revocations of a binding that had allowed a request answered from the decision cache.
    revoked_cached: u64,
    /// ...after which nothing allowed the request any more.
    revoked_to_no_opinion: u64,
    /// ...after which another binding allowed it.
    revoked_but_still_allowed: u64,
}

fn tier_index(tier: Tier) -> usize {
    match tier {
        Tier::DecisionCache => 0,
        Tier::SubjectCache => 1,
        Tier::Policy => 2,
    }
}

fn tiny_config() -> EngineConfig {
    EngineConfig {
        decision_cache: Some((2, Duration::from_secs(300))),
        subject_cache: Some(1),
    }
}

/// The engines a sequence runs on, and the generation each numbered the sequence's first
/// policy (1 for the fresh ones).
struct Harness<'s> {
    /// Fresh default, fresh tiny, fresh uncached, and the long-lived tiny one.
    engines: [(&'s Engine, &'static str, u64); 4],
    world: World,
    /// The current policy, compiled separately from the ones the engines were given.
    direct: Policy,
    /// The sequence's own generation count, from 1.
    generation: u64,
}

impl<'s> Harness<'s> {
    /// `fresh` are a default, a tiny and an uncached engine with no policy yet; `shared` is
    /// the long-lived tiny engine.
    fn new(
        fresh: &'s [Engine; 3],
        shared: &'s Engine,
        world: World,
    ) -> Result<Self, TestCaseError> {
        let shared_base = shared.generation().unwrap_or(0);
        let objects = world.objects();
        let mut harness = Harness {
            engines: [
                (&fresh[0], "default", 0),
                (&fresh[1], "tiny", 0),
                (&fresh[2], "uncached", 0),
                (shared, "long-lived tiny", shared_base),
            ],
            world,
            direct: Policy::compile(&objects, &PolicyOptions::default()),
            generation: 0,
        };
        harness.replace()?;
        Ok(harness)
    }

    /// Rebuilds the policy from the current universe and swaps it into every engine.
    fn replace(&mut self) -> Result<(), TestCaseError> {
        let objects = self.world.objects();
        let options = PolicyOptions::default();
        self.generation += 1;
        for (engine, name, base) in self.engines {
            let g = engine.replace(Policy::compile(&objects, &options));
            prop_assert_eq!(g, base + self.generation, "{} engine's generation", name);
            prop_assert_eq!(engine.generation(), Some(base + self.generation));
        }
        self.direct = Policy::compile(&objects, &options);
        Ok(())
    }

    /// Decides on every engine; all must agree with the policy itself, on this generation.
    /// Returns the decision and the tier the default engine answered from.
    fn decide(
        &self,
        request: &Request,
        totals: &mut Totals,
    ) -> Result<(Decision, Tier), TestCaseError> {
        let expected = self.direct.decide(request);
        totals.decides += 1;
        totals.allowed += u64::from(expected.is_allowed());
        let mut answers = Vec::with_capacity(self.engines.len());
        for (engine, name, base) in self.engines {
            let answer = engine
                .decide(request)
                .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
            prop_assert_eq!(
                answer.generation,
                base + self.generation,
                "{} engine answered on another generation",
                name
            );
            prop_assert_eq!(
                &answer.decision,
                &expected,
                "{} engine ({:?}) disagrees with the policy on generation {} for {:?}",
                name,
                answer.tier,
                self.generation,
                request
            );
            answers.push(answer);
        }
        totals.default_tiers[tier_index(answers[0].tier)] += 1;
        totals.tiny_tiers[tier_index(answers[1].tier)] += 1;
        totals.shared_tiers[tier_index(answers[3].tier)] += 1;
        prop_assert_eq!(answers[2].tier, Tier::Policy, "the uncached engine cached");
        Ok((expected, answers[0].tier))
    }

    fn run(&mut self, case: &Case, totals: &mut Totals) -> Result<(), TestCaseError> {
        let pool: Vec<Request> = case
            .pool
            .iter()
            .map(|entry| {
                entry
                    .aim
                    .and_then(|picks| case.world.aim(picks, &entry.random.uid))
                    .unwrap_or_else(|| entry.random.clone())
            })
            .collect();
        let request = |i: usize| &pool[i % pool.len()];
        for op in &case.ops {
            match op {
                Op::Decide(i) => {
                    self.decide(request(*i), totals)?;
                }
                Op::Mutate(m) => {
                    self.world.apply(m);
                    self.replace()?;
                    totals.replaces += 1;
                }
                Op::Reload => {
                    self.replace()?;
                    totals.replaces += 1;
                }
                Op::Revoke(i) => {
                    let r = request(*i);
                    self.decide(r, totals)?;
                    let (before, tier) = self.decide(r, totals)?;
                    let Decision::Allowed(allowed) = before else {
                        continue;
                    };
                    let binding = allowed.grant.binding.clone();
                    prop_assert!(
                        self.world.revoke(&binding),
                        "the allowing binding {} is not in the universe",
                        binding
                    );
                    self.replace()?;
                    totals.replaces += 1;
                    let (after, _) = self.decide(r, totals)?;
                    if tier == Tier::DecisionCache {
                        totals.revoked_cached += 1;
                    }
                    match after {
                        Decision::NoOpinion => totals.revoked_to_no_opinion += 1,
                        Decision::Allowed(again) => {
                            prop_assert_ne!(
                                &again.grant.binding,
                                &binding,
                                "a revoked binding still allows {:?}",
                                r
                            );
                            totals.revoked_but_still_allowed += 1;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[test]
fn cached_engines_answer_as_the_uncached_one_while_the_policy_changes() {
    let totals = RefCell::new(Totals::default());
    let config = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(CASES)
    };
    let mut runner = TestRunner::new(config);
    // One tiny engine lives through every sequence: moka applies its size bound in batches
    // (every 64 writes), so only a long-lived one really evicts; it also holds entries of
    // every earlier sequence's policies, under keys the next sequences ask again.
    let shared = Engine::new(&tiny_config());
    let result = runner.run(&case(), |case| {
        let mut totals = totals.borrow_mut();
        let fresh = [
            Engine::new(&EngineConfig::default()),
            Engine::new(&tiny_config()),
            Engine::new(&EngineConfig::uncached()),
        ];
        let mut harness = Harness::new(&fresh, &shared, case.world.clone())?;
        harness.run(&case, &mut totals)
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, case)) => {
            panic!("{reason}\nminimal failing case: {case:#?}")
        }
        Err(e) => panic!("{e}"),
    }
    let totals = totals.into_inner();
    eprintln!("{totals:#?}");
    eprintln!("long-lived tiny engine: {:?}", shared.cache_stats());
    // Not vacuous: both tiers of the default engine answered, requests were allowed, and
    // bindings that had allowed a request from the decision cache were revoked.
    let [l1, l2, _] = totals.default_tiers;
    assert!(l1 > 0, "the decision cache never answered: {totals:?}");
    assert!(l2 > 0, "the subject cache never answered: {totals:?}");
    assert!(
        totals.allowed * 10 > totals.decides,
        "too few requests allowed to mean much: {totals:?}"
    );
    assert!(
        totals.shared_tiers[0] < l1,
        "the long-lived tiny engine never evicted a decision: {totals:?}"
    );
    assert!(
        totals.revoked_cached > 0,
        "no cached allow was revoked: {totals:?}"
    );
    assert!(totals.revoked_to_no_opinion > 0, "{totals:?}");
}

#[test]
fn an_engine_with_no_policy_decides_nothing() {
    for config in [
        EngineConfig::default(),
        tiny_config(),
        EngineConfig::uncached(),
    ] {
        let engine = Engine::new(&config);
        let request = Request::non_resource("alice", "get", "/metrics");
        assert_eq!(engine.decide(&request), Err(NotLoaded));
        assert_eq!(engine.generation(), None);
    }
}

// ---------------------------------------------------------------------------------------
// Concurrency: deciders racing a replacer.
// ---------------------------------------------------------------------------------------

fn resource(
    user: &str,
    groups: &[&str],
    verb: &str,
    resource: &str,
    name: &str,
    ns: &str,
) -> Request {
    Request::resource(
        user,
        ResourceAttributes {
            verb: verb.into(),
            resource: resource.into(),
            name: name.into(),
            namespace: ns.into(),
            ..Default::default()
        },
    )
    .with_groups(groups.iter().copied())
}

fn iam_binding(name: &'static str, role: &'static str, user: &str, ns: &str) -> BindingDef {
    BindingDef::Iam {
        name,
        role,
        subjects: vec![Subject {
            kind: "User".into(),
            name: user.into(),
            ..Default::default()
        }],
        scope: ScopePick {
            kind: ScopeKind::Namespace,
            index: NAMESPACES.iter().position(|n| *n == ns).unwrap(),
            fit: true,
        },
    }
}

/// Version 0 lets alice read pods in ns-1 (request X); version 1 does not, and lets alice
/// read pods in ns-2 instead. Both let the `ops` group list everything through a
/// ClusterRoleBinding.
fn flip_world(version: usize) -> World {
    let read_pods = PolicyRule {
        verbs: strings(&["get", "list"]),
        api_groups: Some(strings(&[""])),
        resources: Some(strings(&["pods", "pods/log"])),
        ..Default::default()
    };
    let list_all = PolicyRule {
        verbs: strings(&["list"]),
        api_groups: Some(strings(&["*"])),
        resources: Some(strings(&["*"])),
        ..Default::default()
    };
    let namespaced = |rules: Vec<PolicyRule>| IamRoleDef {
        kind: ScopeKind::Namespace,
        rules,
        uses_template: false,
    };
    let mut bindings = vec![BindingDef::ClusterRoleBinding {
        name: "crb1",
        role: "cr-a",
        subjects: vec![Subject {
            kind: "Group".into(),
            name: "ops".into(),
            ..Default::default()
        }],
    }];
    if version == 0 {
        bindings.push(iam_binding("b1", "r1", "alice", "ns-1"));
    } else {
        bindings.push(iam_binding("b2", "r1", "alice", "ns-2"));
    }
    World {
        iam_roles: vec![
            namespaced(vec![read_pods]),
            namespaced(Vec::new()),
            namespaced(Vec::new()),
        ],
        cluster_roles: vec![
            ClusterRoleDef {
                aggregated_into: false,
                rules: vec![list_all],
            },
            ClusterRoleDef {
                aggregated_into: false,
                rules: Vec::new(),
            },
        ],
        native_roles: vec![Vec::new(), Vec::new()],
        template: Vec::new(),
        bindings,
        namespace_workspace: [Some("ws-a"), None, None],
        node_group: [None, None],
    }
}

/// The policy of generation `g` (1 is the first): versions alternate, starting with 0.
fn version_of(generation: u64) -> usize {
    usize::from(generation.is_multiple_of(2))
}

fn race(config: &EngineConfig, replaces: u64) {
    const DECIDERS: usize = 3;
    const MAX_ROUNDS: usize = 20_000;
    let x = resource("alice", &[], "get", "pods", "p1", "ns-1");
    let requests = vec![
        x.clone(),
        resource("alice", &["dev"], "get", "pods", "p1", "ns-1"),
        resource("alice", &[], "get", "pods", "p1", "ns-2"),
        resource("alice", &[], "list", "pods", "", "ns-1"),
        resource("bob", &["ops"], "list", "pods", "", "ns-1"),
        resource("alice", &["ops"], "get", "pods", "p1", "ns-1"),
        resource("bob", &[], "get", "pods", "p1", "ns-1"),
    ];
    let options = PolicyOptions::default();
    let objects = [flip_world(0).objects(), flip_world(1).objects()];
    // The policy of each generation, for checking answers; index 0 is unused.
    let last = replaces + 1;
    let policies: Vec<Arc<Policy>> = (0..=last)
        .map(|g| Arc::new(Policy::compile(&objects[version_of(g)], &options)))
        .collect();
    assert!(policies[1].decide(&x).is_allowed());
    assert!(!policies[2].decide(&x).is_allowed());

    let engine = Arc::new(Engine::with_policy(
        Policy::compile(&objects[version_of(1)], &options),
        config,
    ));
    // The newest generation whose replacement has returned.
    let published = AtomicU64::new(1);
    let done = AtomicBool::new(false);
    let tiers = std::sync::Mutex::new([0u64; 3]);
    std::thread::scope(|s| {
        for _ in 0..DECIDERS {
            let (engine, requests, policies) = (&engine, &requests, &policies);
            let (published, done, tiers) = (&published, &done, &tiers);
            s.spawn(move || {
                let mut seen = 0;
                let mut counted = [0u64; 3];
                for _ in 0..MAX_ROUNDS {
                    if done.load(Ordering::SeqCst) {
                        break;
                    }
                    for (i, request) in requests.iter().enumerate() {
                        let floor = published.load(Ordering::SeqCst);
                        let answer = engine.decide(request).expect("loaded");
                        let g = answer.generation;
                        assert!(
                            g >= floor,
                            "answered on generation {g} after generation {floor} was in place"
                        );
                        assert!(g >= seen, "generation went back from {seen} to {g}");
                        assert!(g <= last, "unknown generation {g}");
                        seen = g;
                        let expected = policies[g as usize].decide(request);
                        assert_eq!(
                            answer.decision, expected,
                            "request {i} on generation {g} (tier {:?})",
                            answer.tier
                        );
                        counted[tier_index(answer.tier)] += 1;
                    }
                }
                let mut tiers = tiers.lock().unwrap();
                for (total, n) in tiers.iter_mut().zip(counted) {
                    *total += n;
                }
            });
        }
        s.spawn(|| {
            for g in 2..=last {
                let policy = Policy::compile(&objects[version_of(g)], &options);
                assert_eq!(engine.replace(policy), g);
                published.store(g, Ordering::SeqCst);
                std::thread::yield_now();
            }
            done.store(true, Ordering::SeqCst);
        });
    });
    // After the last replacement, a fresh decision follows the last policy.
    assert_eq!(engine.generation(), Some(last));
    for request in &requests {
        let answer = engine.decide(request).expect("loaded");
        assert_eq!(answer.generation, last);
        assert_eq!(answer.decision, policies[last as usize].decide(request));
    }
    assert_eq!(
        engine.decide(&x).unwrap().decision.is_allowed(),
        version_of(last) == 0
    );
    let tiers = tiers.into_inner().unwrap();
    assert!(tiers.iter().sum::<u64>() > 0);
    eprintln!("{config:?}: answers by tier (decision, subject, policy): {tiers:?}");
}

#[test]
fn concurrent_decisions_follow_the_generation_they_name() {
    race(&EngineConfig::default(), 200);
    race(&tiny_config(), 101);
}

/// The revocation case spelled out: an allow answered from the decision cache (and another
/// request of the same subject from the subject cache) on generation 1, then a replacement
/// without the binding: the request is no longer allowed, or allowed by another binding
/// exactly when the uncached engine says so.
#[test]
fn a_revoked_binding_stops_allowing_at_once_on_every_tier() {
    let options = PolicyOptions::default();
    let x = resource("alice", &[], "get", "pods", "p1", "ns-1");
    let sibling = resource("alice", &[], "list", "pods", "", "ns-1");
    // Allowed by b1 at ns-1 and, once b1 is gone, still by crb1 (ops may list everything).
    let y = resource("alice", &["ops"], "list", "pods", "", "ns-1");
    let before = flip_world(0).objects();
    let mut after_world = flip_world(0);
    assert!(after_world.revoke(&ObjectRef::cluster_scoped(ObjectKind::IamRoleBinding, "b1")));
    let after = after_world.objects();
    let b1 = ObjectRef::cluster_scoped(ObjectKind::IamRoleBinding, "b1");
    let crb1 = ObjectRef::cluster_scoped(ObjectKind::ClusterRoleBinding, "crb1");
    let allowed_by = |d: &Decision| match d {
        Decision::Allowed(a) => Some(a.grant.binding.clone()),
        Decision::NoOpinion => None,
    };
    for config in [
        EngineConfig::default(),
        tiny_config(),
        EngineConfig::uncached(),
    ] {
        let cached = config != EngineConfig::uncached();
        let engine = Engine::with_policy(Policy::compile(&before, &options), &config);
        let uncached = Engine::with_policy(
            Policy::compile(&before, &options),
            &EngineConfig::uncached(),
        );
        for r in [&x, &y] {
            assert_eq!(
                allowed_by(&engine.decide(r).unwrap().decision),
                Some(b1.clone())
            );
            let again = engine.decide(r).unwrap();
            assert_eq!(allowed_by(&again.decision), Some(b1.clone()));
            if cached {
                assert_eq!(again.tier, Tier::DecisionCache, "{config:?}");
            }
        }
        let sibling_answer = engine.decide(&sibling).unwrap();
        assert!(sibling_answer.decision.is_allowed());
        if config == EngineConfig::default() {
            assert_eq!(sibling_answer.tier, Tier::SubjectCache);
        }

        assert_eq!(engine.replace(Policy::compile(&after, &options)), 2);
        assert_eq!(uncached.replace(Policy::compile(&after, &options)), 2);
        for r in [&x, &y, &sibling] {
            let answer = engine.decide(r).unwrap();
            assert_eq!(answer.generation, 2);
            assert_eq!(answer.decision, uncached.decide(r).unwrap().decision);
        }
        assert_eq!(engine.decide(&x).unwrap().decision, Decision::NoOpinion);
        assert_eq!(
            engine.decide(&sibling).unwrap().decision,
            Decision::NoOpinion
        );
        assert_eq!(
            allowed_by(&engine.decide(&y).unwrap().decision),
            Some(crb1.clone())
        );
    }
}
