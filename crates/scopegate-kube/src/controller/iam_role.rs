//! The IAMRole controller: keeps ClusterRole `scopegate:iamrole:<name>` holding the role's
//! effective rules ([`desired_cluster_role`]), recomputed from the RoleTemplates as they are
//! now. Triggered by the role, by its ClusterRole (drift), and by any RoleTemplate the role
//! names or might select (a template that changes, disappears or stops matching takes its
//! rules away).

use super::apply::{self, Readiness};
use super::{Context, Error};
use crate::materialize::{DesiredRbac, desired_cluster_role, plan};
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use scopegate_core::model::{IamRole, RoleTemplate};
use std::sync::Arc;

/// The controller's name in metrics and logs.
pub(crate) const NAME: &str = "iamrole";

/// One reconcile of one IAMRole.
pub(crate) async fn reconcile(role: Arc<IamRole>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.world.ready().await?;
    if role.metadata.deletion_timestamp.is_some() {
        // Going away: the garbage collector (or the orphan sweep) removes what it made.
        return Ok(Action::await_change());
    }
    let name = role.name_any();
    let templates = ctx.world.role_templates();
    let (desired, readiness) = decide(&role, &templates, ctx.options.materialize);
    let observed = ctx.world.made_for_role(&name);
    let uids = apply::uids(&observed);
    let plan = plan(desired, observed);
    if let Err(error) = apply::execute(&ctx.client, plan, &uids).await {
        ctx.report_failure(&*role, role.status.as_ref(), &error)
            .await;
        return Err(error);
    }
    apply::write_status(
        &ctx.client,
        &ctx.recorder,
        &*role,
        role.status.as_ref(),
        &readiness,
    )
    .await?;
    Ok(Action::requeue(ctx.options.resync))
}

/// What the role should have and what its status should say.
pub(crate) fn decide(
    role: &IamRole,
    templates: &[RoleTemplate],
    materialize: bool,
) -> (DesiredRbac, Readiness) {
    match desired_cluster_role(role, templates) {
        Err(e) => (
            DesiredRbac::default(),
            Readiness::failed(e.reason(), e.to_string()),
        ),
        Ok(_) if !materialize => (
            DesiredRbac::default(),
            Readiness::ok(
                "MaterializationDisabled",
                "valid; materialisation is off, so no native objects are kept (the webhook decides)",
            )
            .keeping(&DesiredRbac::default()),
        ),
        Ok(cluster_role) => {
            let made = DesiredRbac {
                cluster_roles: vec![cluster_role],
                ..DesiredRbac::default()
            };
            let message = apply::describe(&made);
            let readiness = Readiness::ok("Materialized", message).keeping(&made);
            (made, readiness)
        }
    }
}

/// The roles a RoleTemplate change can affect: those naming it, and those with a
/// `templateSelector` (the template's old labels are not known, so whether it matched before
/// cannot be told; reconciling a role that did not use it writes nothing).
pub(crate) fn roles_using(
    template: &RoleTemplate,
    roles: &Store<IamRole>,
) -> Vec<ObjectRef<IamRole>> {
    let name = template.name_any();
    roles
        .state()
        .iter()
        .filter(|r| r.spec.template_selector.is_some() || r.spec.role_templates.contains(&name))
        .map(|r| ObjectRef::from_obj(&**r))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(spec: serde_json::Value) -> IamRole {
        serde_json::from_value(json!({
            "apiVersion": "iam.theriseunion.io/v1alpha1", "kind": "IAMRole",
            "metadata": {"name": "dev", "uid": "u"}, "spec": spec
        }))
        .unwrap()
    }

    fn template(name: &str) -> RoleTemplate {
        serde_json::from_value(json!({
            "apiVersion": "iam.theriseunion.io/v1alpha1", "kind": "RoleTemplate",
            "metadata": {"name": name},
            "spec": {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
        }))
        .unwrap()
    }

    #[test]
    fn a_valid_role_is_materialised_and_ready() {
        let (made, ready) = decide(
            &role(json!({"scope": "Namespace", "roleTemplates": ["pods"]})),
            &[template("pods")],
            true,
        );
        assert_eq!(made.cluster_roles.len(), 1);
        assert!(ready.ready);
        assert_eq!(ready.reason, "Materialized");
        assert_eq!(ready.message, "1 native object: 1 ClusterRole");
        assert_eq!(ready.native_objects, Some(1));
    }

    #[test]
    fn a_role_with_errors_has_nothing_and_says_why() {
        let (made, ready) = decide(
            &role(json!({"scope": "Namespace", "roleTemplates": ["missing"]})),
            &[template("pods")],
            true,
        );
        assert!(made.is_empty());
        assert!(!ready.ready);
        assert_eq!(ready.reason, "RoleHasErrors");
        assert!(ready.message.contains("missing"), "{}", ready.message);
        assert_eq!(ready.native_objects, None);
    }

    #[test]
    fn with_materialisation_off_nothing_is_kept_but_errors_are_still_reported() {
        let (made, ready) = decide(
            &role(json!({"scope": "Namespace", "roleTemplates": ["pods"]})),
            &[template("pods")],
            false,
        );
        assert!(made.is_empty());
        assert!(ready.ready);
        assert_eq!(ready.reason, "MaterializationDisabled");
        assert_eq!(ready.native_objects, Some(0));
        let (_, ready) = decide(
            &role(json!({"scope": "Namespace", "roleTemplates": ["missing"]})),
            &[],
            false,
        );
        assert_eq!(ready.reason, "RoleHasErrors");
    }
}
