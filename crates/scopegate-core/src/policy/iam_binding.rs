//! The one check of an IAMRoleBinding against the model: its roleRef, its scope, the role's
//! scope kind, the scope being declared, and its subjects. The compiler (what the webhook
//! decides) and the materialiser in `scopegate-kube` (the native RBAC the controllers write)
//! both call [`check_iam_role_binding`], so the two can never disagree on which bindings
//! grant. Whether the role itself has errors is the caller's to add: the compiler knows it
//! from the compiled role, the materialiser from [`crate::policy::effective_rules`].

use crate::model::{IAM_GROUP, IamRoleBindingSpec, Scope, ScopeKind};
use crate::objects::ObjectKind;
use crate::rbac::service_account_user_name;
use k8s_openapi::api::rbac::v1::Subject;

/// One subject of a binding, checked, with a ServiceAccount's namespace filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BoundSubject {
    /// A user, by name.
    User(String),
    /// A group, by name.
    Group(String),
    /// A ServiceAccount (its namespace written, or defaulted from the binding's scope).
    ServiceAccount {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
}

impl BoundSubject {
    /// The user name the API server authenticates it as (a ServiceAccount's is
    /// `system:serviceaccount:NS:NAME`), or the group name.
    pub fn matches(&self) -> String {
        match self {
            BoundSubject::User(name) | BoundSubject::Group(name) => name.clone(),
            BoundSubject::ServiceAccount { namespace, name } => {
                service_account_user_name(namespace, name)
            }
        }
    }
}

/// Why a binding grants nothing: the field at fault and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingProblem {
    /// The field, e.g. `spec.roleRef.name`.
    pub field: String,
    /// What is wrong, in words the user can act on.
    pub message: String,
    /// Whether the problem is that the role does not exist (the controllers report it with
    /// a reason of its own).
    pub role_not_found: bool,
}

impl BindingProblem {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        BindingProblem {
            field: field.into(),
            message: message.into(),
            role_not_found: false,
        }
    }
}

/// What a binding that passes the check binds: where, and whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedIamBinding {
    /// The scope it grants at.
    pub scope: Scope,
    /// Its subjects.
    pub subjects: Vec<BoundSubject>,
}

/// What checking a binding looks up in the rest of the policy.
pub trait IamBindingContext {
    /// The cluster being served (a Cluster scope naming it needs no Cluster object).
    fn cluster_name(&self) -> &str;
    /// The scope kind of the IAMRole named `name`, if it exists.
    fn iam_role_scope(&self, name: &str) -> Option<ScopeKind>;
    /// Whether a Cluster, Workspace or NodeGroup of this name is declared.
    fn is_declared(&self, kind: ObjectKind, name: &str) -> bool;
}

/// Checks an IAMRoleBinding: the first problem with its roleRef or scope
/// ([`check_iam_role_binding_target`]), or else every problem with its subjects
/// ([`check_subjects`]); on success, what it binds.
pub fn check_iam_role_binding(
    spec: &IamRoleBindingSpec,
    context: &impl IamBindingContext,
) -> Result<CheckedIamBinding, Vec<BindingProblem>> {
    let scope = check_iam_role_binding_target(spec, context).map_err(|problem| vec![problem])?;
    let subjects = check_subjects("spec.subjects", &spec.subjects, scope.subject_namespace())?;
    Ok(CheckedIamBinding { scope, subjects })
}

/// Checks an IAMRoleBinding's roleRef and scope: the scope it grants at, or the first
/// problem (a roleRef that is not to an IAMRole, a malformed scope, a role that does not
/// exist or is meant for another scope kind, a Workspace, NodeGroup or Cluster that is not
/// declared).
pub fn check_iam_role_binding_target(
    spec: &IamRoleBindingSpec,
    context: &impl IamBindingContext,
) -> Result<Scope, BindingProblem> {
    let role_ref = &spec.role_ref;
    if role_ref.kind != "IAMRole" {
        return Err(BindingProblem::new(
            "spec.roleRef.kind",
            format!("must be IAMRole, not {:?}", role_ref.kind),
        ));
    }
    if role_ref
        .api_group
        .as_deref()
        .is_some_and(|g| !g.is_empty() && g != IAM_GROUP)
    {
        return Err(BindingProblem::new(
            "spec.roleRef.apiGroup",
            format!("must be {IAM_GROUP}"),
        ));
    }
    let scope = Scope::from_spec(&spec.scope).map_err(|m| BindingProblem::new("spec.scope", m))?;
    let Some(role_kind) = context
        .iam_role_scope(&role_ref.name)
        .filter(|_| !role_ref.name.is_empty())
    else {
        return Err(BindingProblem {
            role_not_found: true,
            ..BindingProblem::new(
                "spec.roleRef.name",
                format!("IAMRole {:?} does not exist", role_ref.name),
            )
        });
    };
    if role_kind != scope.kind() {
        return Err(BindingProblem::new(
            "spec.scope.kind",
            format!(
                "IAMRole {:?} is meant for {role_kind} scopes and cannot be bound at a {} scope",
                role_ref.name,
                scope.kind()
            ),
        ));
    }
    let target = scope.name().unwrap_or_default();
    let undeclared = match scope.kind() {
        ScopeKind::Workspace => !context.is_declared(ObjectKind::Workspace, target),
        ScopeKind::NodeGroup => !context.is_declared(ObjectKind::NodeGroup, target),
        ScopeKind::Cluster => {
            target != context.cluster_name() && !context.is_declared(ObjectKind::Cluster, target)
        }
        _ => false,
    };
    if undeclared {
        return Err(BindingProblem::new(
            "spec.scope.name",
            format!("{} {target:?} is not declared", scope.kind()),
        ));
    }
    Ok(scope)
}

/// Checks a binding's subjects (`field` is where they are, e.g. `spec.subjects`): a subject
/// that can never match (no name, an unknown kind, a ServiceAccount without a namespace
/// where the binding lends none) is a problem, and a binding with one grants nothing, as
/// Kubernetes refuses such a binding whole. Every problem is returned, not only the first.
pub fn check_subjects(
    field: &str,
    subjects: &[Subject],
    default_namespace: Option<&str>,
) -> Result<Vec<BoundSubject>, Vec<BindingProblem>> {
    let mut bound = Vec::with_capacity(subjects.len());
    let mut problems = Vec::new();
    for (i, s) in subjects.iter().enumerate() {
        let at = |part: &str| format!("{field}[{i}].{part}");
        if s.name.is_empty() {
            problems.push(BindingProblem::new(at("name"), "is required"));
            continue;
        }
        match s.kind.as_str() {
            "User" => bound.push(BoundSubject::User(s.name.clone())),
            "Group" => bound.push(BoundSubject::Group(s.name.clone())),
            "ServiceAccount" => {
                let namespace = s
                    .namespace
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .or(default_namespace);
                match namespace {
                    Some(namespace) => bound.push(BoundSubject::ServiceAccount {
                        namespace: namespace.to_string(),
                        name: s.name.clone(),
                    }),
                    None => problems.push(BindingProblem::new(
                        at("namespace"),
                        "is required for a ServiceAccount when the binding has no namespace of its own",
                    )),
                }
            }
            other => problems.push(BindingProblem::new(
                at("kind"),
                format!(
                    "unknown subject kind {other:?}, expected one of User, Group, ServiceAccount"
                ),
            )),
        }
    }
    if problems.is_empty() {
        Ok(bound)
    } else {
        Err(problems)
    }
}
