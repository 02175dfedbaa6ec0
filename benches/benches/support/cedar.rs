//! A generated Scopegate policy translated into Cedar, to decide the same requests on the
//! same permissions with `cedar_policy::Authorizer::is_authorized`.
//!
//! The translation:
//! - **Scopes are entities** of types `Platform`, `Cluster`, `Workspace`, `NodeGroup`,
//!   `Namespace`, `Node` and `Resource` (id `namespace/apiGroup/resource/name`), with the
//!   hierarchy as parents: Cluster → Platform; Workspace and NodeGroup → the served Cluster;
//!   Namespace → its Workspace (or the served Cluster); Node → its NodeGroup (or the served
//!   Cluster); a Resource → its Namespace, its Node (for `nodes`) or the served Cluster.
//! - **Each request's target** is an `Object` entity whose parents are the steps of its scope
//!   chain (`ScopeChain::for_action`), so its ancestors are exactly its chain (every parent
//!   of a chain step is itself on the chain). Parents are given explicitly rather than only
//!   the most specific step because one chain (`clusters/NAME`: that Cluster → the served
//!   Cluster → Platform) is not a path in any tree.
//! - **Users** are `User` entities whose parents are the `Group`s the request carries;
//!   ServiceAccounts are users named `system:serviceaccount:NS:NAME`, as in Scopegate.
//! - **One `permit` per binding rule and subject**: a template-linked policy, `principal ==
//!   ?principal` for a user (`principal in ?principal` for a group), `action in [the rule's
//!   verbs]` (no action constraint for `*`), `resource in ?resource` linked to the binding's
//!   scope entity, and a `when` clause for the rule's apiGroups, resources (with
//!   `resource/subresource` and `*/subresource`), resourceNames and nonResourceURLs (a
//!   trailing `*` becomes `like "prefix*"`). Templates are shared by every binding of the
//!   same rule, which keeps a million links in memory; Cedar evaluates a linked policy as
//!   the static policy it stands for.
//! - **The request** is `User::"user"`, `Action::"verb"`, the target `Object`, and a context
//!   `{isResource, apiGroup, fullResource, subresource, name, path}`.
//!
//! Rules that can match nothing (no verbs, no groups and no URLs) produce no policy. No
//! schema is used (no validation): Cedar is asked to decide, as Scopegate is.

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId,
    PolicySet, RestrictedExpression, SlotId, Template,
};
use k8s_openapi::api::rbac::v1::PolicyRule;
use scopegate_core::chain::{ScopeChain, ScopeStep};
use scopegate_core::policy::SubjectKind;
use scopegate_core::topology::Topology;
use scopegate_core::{Action, Policy, Request};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

/// The translated policy and entity store, and the authorizer.
pub struct CedarWorld {
    /// Every template and linked policy.
    pub policies: PolicySet,
    /// Scopes, request targets, users and groups.
    pub entities: Entities,
    /// The authorizer.
    pub authorizer: Authorizer,
    /// Distinct templates (rule × principal kind).
    pub templates: usize,
    /// Linked policies (binding × subject × rule).
    pub links: usize,
    /// Entities in the store.
    pub entity_count: usize,
}

impl CedarWorld {
    /// Whether Cedar allows `request`. Panics if an evaluation error occurred: an erroring
    /// policy is skipped by Cedar, which would hide a translation bug.
    pub fn is_allowed(&self, request: &cedar_policy::Request) -> bool {
        let response = self
            .authorizer
            .is_authorized(request, &self.policies, &self.entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .take(3)
            .collect();
        assert!(errors.is_empty(), "Cedar evaluation errors: {errors:?}");
        response.decision() == Decision::Allow
    }

    /// Decides without checking diagnostics: what the benchmark times.
    pub fn decide(&self, request: &cedar_policy::Request) -> Decision {
        self.authorizer
            .is_authorized(request, &self.policies, &self.entities)
            .decision()
    }
}

fn type_name(name: &str) -> EntityTypeName {
    EntityTypeName::from_str(name).expect("a valid entity type name")
}

/// Entity type names, parsed once.
struct Types {
    platform: EntityTypeName,
    cluster: EntityTypeName,
    workspace: EntityTypeName,
    node_group: EntityTypeName,
    namespace: EntityTypeName,
    node: EntityTypeName,
    resource: EntityTypeName,
    object: EntityTypeName,
    user: EntityTypeName,
    group: EntityTypeName,
    action: EntityTypeName,
}

impl Types {
    fn new() -> Self {
        Types {
            platform: type_name("Platform"),
            cluster: type_name("Cluster"),
            workspace: type_name("Workspace"),
            node_group: type_name("NodeGroup"),
            namespace: type_name("Namespace"),
            node: type_name("Node"),
            resource: type_name("Resource"),
            object: type_name("Object"),
            user: type_name("User"),
            group: type_name("Group"),
            action: type_name("Action"),
        }
    }

    fn uid(&self, ty: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
    }

    fn scope(&self, step: &ScopeStep<'_>) -> EntityUid {
        match *step {
            ScopeStep::Platform => self.uid(&self.platform, "platform"),
            ScopeStep::Cluster(n) => self.uid(&self.cluster, n),
            ScopeStep::Workspace(n) => self.uid(&self.workspace, n),
            ScopeStep::NodeGroup(n) => self.uid(&self.node_group, n),
            ScopeStep::Namespace(n) => self.uid(&self.namespace, n),
            ScopeStep::Node(n) => self.uid(&self.node, n),
            ScopeStep::Resource {
                namespace,
                api_group,
                resource,
                name,
            } => self.uid(
                &self.resource,
                &format!("{namespace}/{api_group}/{resource}/{name}"),
            ),
        }
    }

    /// The parent of a scope in the hierarchy, from the topology.
    fn parent<'t>(&self, step: &ScopeStep<'t>, topology: &'t Topology) -> Option<ScopeStep<'t>> {
        let served = ScopeStep::Cluster(topology.cluster_name());
        Some(match *step {
            ScopeStep::Platform => return None,
            ScopeStep::Cluster(_) => ScopeStep::Platform,
            ScopeStep::Workspace(_) | ScopeStep::NodeGroup(_) => served,
            ScopeStep::Namespace(ns) => topology
                .workspace_of(ns)
                .map_or(served, ScopeStep::Workspace),
            ScopeStep::Node(n) => topology
                .node_group_of(n)
                .map_or(served, ScopeStep::NodeGroup),
            ScopeStep::Resource {
                namespace,
                api_group,
                resource,
                name,
            } => {
                if !namespace.is_empty() {
                    ScopeStep::Namespace(namespace)
                } else if api_group.is_empty() && resource == "nodes" {
                    ScopeStep::Node(name)
                } else {
                    served
                }
            }
        })
    }
}

/// The entity store under construction: each entity and its parents.
#[derive(Default)]
struct Store {
    parents: HashMap<EntityUid, HashSet<EntityUid>>,
}

impl Store {
    /// Adds a scope and, recursively, its ancestors; returns its uid.
    fn add_scope(&mut self, types: &Types, step: &ScopeStep<'_>, topology: &Topology) -> EntityUid {
        let uid = types.scope(step);
        if !self.parents.contains_key(&uid) {
            let mut parents = HashSet::new();
            if let Some(parent) = types.parent(step, topology) {
                parents.insert(self.add_scope(types, &parent, topology));
            }
            self.parents.insert(uid.clone(), parents);
        }
        uid
    }

    fn add(&mut self, uid: EntityUid, parents: HashSet<EntityUid>) {
        let entry = self.parents.entry(uid.clone()).or_default();
        if entry.is_empty() {
            *entry = parents;
        } else {
            assert!(
                *entry == parents,
                "{uid} appears with two different parent sets"
            );
        }
    }
}

/// A Cedar string literal.
fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Cedar `like` pattern matching every string that starts with `prefix`.
fn prefix_pattern(prefix: &str) -> String {
    let quoted = lit(prefix);
    // Inside a pattern `*` is the wildcard; a literal star is `\*`.
    let body = &quoted[1..quoted.len() - 1];
    format!("\"{}*\"", body.replace('*', "\\*"))
}

fn set_contains(values: &[&str], attr: &str) -> String {
    let items: Vec<String> = values.iter().map(|v| lit(v)).collect();
    format!("[{}].contains(context.{attr})", items.join(", "))
}

fn or(terms: Vec<String>) -> Option<String> {
    match terms.len() {
        0 => None,
        1 => terms.into_iter().next(),
        _ => Some(format!("({})", terms.join(" || "))),
    }
}

/// The `when` condition of one rule (without the verb, which is the action constraint), or
/// `None` if the rule can cover no request.
fn rule_condition(rule: &PolicyRule) -> Option<String> {
    let mut alternatives = Vec::new();

    // Resource requests: apiGroups, resources, resourceNames (rbac::check_resource_rule).
    let groups: Vec<&str> = rule
        .api_groups
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let resources: Vec<&str> = rule
        .resources
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    if !groups.is_empty() && !resources.is_empty() {
        let group_cond = if groups.contains(&"*") {
            None
        } else {
            Some(set_contains(&groups, "apiGroup"))
        };
        let resource_cond = if resources.contains(&"*") {
            None
        } else {
            // `pods` or `pods/log`: the request's `resource[/subresource]` equals it.
            let mut terms = vec![set_contains(&resources, "fullResource")];
            // `*/log`: the `log` subresource of any resource.
            for r in &resources {
                if let Some(sub) = r.strip_prefix("*/")
                    && !sub.is_empty()
                {
                    terms.push(format!("context.subresource == {}", lit(sub)));
                }
            }
            or(terms)
        };
        let names: Vec<&str> = rule
            .resource_names
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let name_cond = (!names.is_empty()).then(|| set_contains(&names, "name"));
        let parts: Vec<String> = std::iter::once("context.isResource".to_string())
            .chain(group_cond)
            .chain(resource_cond)
            .chain(name_cond)
            .collect();
        alternatives.push(format!("({})", parts.join(" && ")));
    }

    // Non-resource requests: nonResourceURLs (rbac::check_non_resource_rule).
    let urls: Vec<&str> = rule
        .non_resource_urls
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    if !urls.is_empty() {
        let url_cond = if urls.contains(&"*") {
            None
        } else {
            let mut terms = Vec::new();
            let exact: Vec<&str> = urls.iter().copied().filter(|u| !u.ends_with('*')).collect();
            if !exact.is_empty() {
                terms.push(set_contains(&exact, "path"));
            }
            for u in urls.iter().filter(|u| u.ends_with('*')) {
                terms.push(format!(
                    "context.path like {}",
                    prefix_pattern(u.trim_end_matches('*'))
                ));
            }
            or(terms)
        };
        let parts: Vec<String> = std::iter::once("!context.isResource".to_string())
            .chain(url_cond)
            .collect();
        alternatives.push(format!("({})", parts.join(" && ")));
    }
    or(alternatives)
}

/// The template text for one rule and principal kind, or `None` if the rule covers nothing.
fn template_text(rule: &PolicyRule, kind: SubjectKind, types: &Types) -> Option<String> {
    if rule.verbs.is_empty() {
        return None;
    }
    let condition = rule_condition(rule)?;
    let principal = match kind {
        SubjectKind::Group => "principal in ?principal",
        SubjectKind::User | SubjectKind::ServiceAccount => "principal == ?principal",
    };
    let action = if rule.verbs.iter().any(|v| v == "*") {
        "action".to_string()
    } else {
        let verbs: Vec<String> = rule
            .verbs
            .iter()
            .map(|v| types.uid(&types.action, v).to_string())
            .collect();
        format!("action in [{}]", verbs.join(", "))
    };
    Some(format!(
        "permit({principal}, {action}, resource in ?resource) when {{ {condition} }};"
    ))
}

/// The Cedar request for a Scopegate request (the target's entity must be in the store:
/// [`translate`] adds every request it is given).
pub fn cedar_request(policy: &Policy, request: &Request) -> cedar_policy::Request {
    let types = Types::new();
    let chain = ScopeChain::for_action(&request.action, policy.topology());
    let principal = types.uid(&types.user, &request.user);
    let target = types.uid(&types.object, &object_id(&chain, &types));
    let s = |v: &str| RestrictedExpression::new_string(v.to_string());
    let (verb, pairs) = match &request.action {
        Action::Resource(r) => {
            let full = if r.subresource.is_empty() {
                r.resource.clone()
            } else {
                format!("{}/{}", r.resource, r.subresource)
            };
            (
                &r.verb,
                [
                    ("isResource", RestrictedExpression::new_bool(true)),
                    ("apiGroup", s(&r.group)),
                    ("fullResource", s(&full)),
                    ("subresource", s(&r.subresource)),
                    ("name", s(&r.name)),
                    ("path", s("")),
                ],
            )
        }
        Action::NonResource(n) => (
            &n.verb,
            [
                ("isResource", RestrictedExpression::new_bool(false)),
                ("apiGroup", s("")),
                ("fullResource", s("")),
                ("subresource", s("")),
                ("name", s("")),
                ("path", s(&n.path)),
            ],
        ),
    };
    let context = Context::from_pairs(pairs.into_iter().map(|(k, v)| (k.to_string(), v)))
        .expect("a valid context");
    cedar_policy::Request::new(
        principal,
        types.uid(&types.action, verb),
        target,
        context,
        None,
    )
    .expect("a valid request")
}

/// The id of a request target: its chain, written out.
fn object_id(chain: &ScopeChain<'_>, types: &Types) -> String {
    chain
        .steps()
        .iter()
        .map(|s| types.scope(s).to_string())
        .collect::<Vec<_>>()
        .join(" > ")
}

/// Translates `policy` into Cedar, with an entity store holding every scope the policy
/// binds at, and the targets and users of `requests`.
pub fn translate(policy: &Policy, requests: &[&Request]) -> CedarWorld {
    let types = Types::new();
    let topology = policy.topology();
    let mut store = Store::default();
    let mut policies = PolicySet::new();
    // Template ids by (rule, principal kind); `None` when the rule covers nothing.
    let mut templates: HashMap<(String, bool), Option<PolicyId>> = HashMap::new();
    let mut links = 0usize;

    for (ordinal, grant) in policy.grants().iter().enumerate() {
        let scope = store.add_scope(&types, &ScopeStep::of(&grant.scope), topology);
        for (s, subject) in grant.subjects.iter().enumerate() {
            let is_group = subject.kind == SubjectKind::Group;
            let principal = if is_group {
                types.uid(&types.group, &subject.matches)
            } else {
                types.uid(&types.user, &subject.matches)
            };
            for (r, rule) in grant.role.rules.iter().enumerate() {
                let key = (
                    serde_json::to_string(rule).expect("a rule serialises"),
                    is_group,
                );
                let next = templates.len();
                let template = templates.entry(key).or_insert_with(|| {
                    let text = template_text(rule, subject.kind, &types)?;
                    let id = PolicyId::new(format!("t{next}"));
                    let template = Template::parse(Some(id.clone()), &text)
                        .unwrap_or_else(|e| panic!("template {text}: {e}"));
                    policies.add_template(template).expect("a new template");
                    Some(id)
                });
                let Some(template) = template else {
                    continue;
                };
                let values = HashMap::from([
                    (SlotId::principal(), principal.clone()),
                    (SlotId::resource(), scope.clone()),
                ]);
                policies
                    .link(
                        template.clone(),
                        PolicyId::new(format!("b{ordinal}s{s}r{r}")),
                        values,
                    )
                    .expect("a link");
                links += 1;
            }
        }
    }

    for request in requests {
        let chain = ScopeChain::for_action(&request.action, topology);
        let parents: HashSet<EntityUid> = chain
            .steps()
            .iter()
            .map(|step| store.add_scope(&types, step, topology))
            .collect();
        store.add(
            types.uid(&types.object, &object_id(&chain, &types)),
            parents,
        );
        let groups: HashSet<EntityUid> = request
            .groups
            .iter()
            .map(|g| {
                let uid = types.uid(&types.group, g);
                store.parents.entry(uid.clone()).or_default();
                uid
            })
            .collect();
        store.add(types.uid(&types.user, &request.user), groups);
    }

    let entity_count = store.parents.len();
    let entities = Entities::from_entities(
        store
            .parents
            .into_iter()
            .map(|(uid, parents)| Entity::new_no_attrs(uid, parents)),
        None,
    )
    .expect("a consistent entity store");
    CedarWorld {
        policies,
        entities,
        authorizer: Authorizer::new(),
        templates: templates.values().filter(|t| t.is_some()).count(),
        links,
        entity_count,
    }
}
