//! IAMRole → ClusterRole `scopegate:iamrole:<name>`: the role's effective rules (its own,
//! its named RoleTemplates', and those its `templateSelector` matches), recomputed from the
//! templates as they are now, so that a template that changes, disappears or stops matching
//! takes its rules away with it.

use super::{IAMROLE_LABEL, MaterializeError, iam_role_object_name, normalize_rules, object_meta};
use k8s_openapi::api::rbac::v1::ClusterRole;
use scopegate_core::model::{IamRole, RoleTemplate};
use scopegate_core::policy::effective_rules;

/// The ClusterRole an IAMRole should have, given every RoleTemplate that exists.
///
/// The rules are the role's effective rules with the engine's own resolution
/// ([`scopegate_core::policy::effective_rules`]), [normalised](super::normalize_rules) so the
/// API server accepts them, in the engine's order. The ClusterRole is labelled
/// `app.kubernetes.io/managed-by: scopegate` and `scopegate.theriseunion.io/iamrole: <name>`
/// and owned by the IAMRole.
///
/// A role with an error (a RoleTemplate that does not exist, an invalid `templateSelector`)
/// grants nothing in the engine, so it has no ClusterRole: `Err` with the reason, and the
/// controller deletes the ClusterRole made before rather than keep stale rules.
pub fn desired_cluster_role(
    role: &IamRole,
    templates: &[RoleTemplate],
) -> Result<ClusterRole, MaterializeError> {
    let name = role
        .metadata
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or(MaterializeError::Unnamed("IAMRole"))?;
    let effective =
        effective_rules(role, templates).map_err(|problems| MaterializeError::RoleHasErrors {
            role: name.to_string(),
            problems,
        })?;
    Ok(ClusterRole {
        metadata: object_meta(
            iam_role_object_name(name),
            None,
            IAMROLE_LABEL,
            "IAMRole",
            &role.metadata,
        ),
        rules: Some(normalize_rules(&effective.rules, false)),
        aggregation_rule: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::materialize::{MANAGED_BY_LABEL, diff};
    use k8s_openapi::api::rbac::v1::PolicyRule;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use scopegate_core::model::ScopeKind;
    use serde_json::json;

    fn template(name: &str, labels: serde_json::Value, rules: serde_json::Value) -> RoleTemplate {
        serde_json::from_value(json!({
            "apiVersion": "iam.theriseunion.io/v1alpha1", "kind": "RoleTemplate",
            "metadata": {"name": name, "labels": labels},
            "spec": {"rules": rules}
        }))
        .unwrap()
    }

    fn role(spec: serde_json::Value) -> IamRole {
        serde_json::from_value(json!({
            "apiVersion": "iam.theriseunion.io/v1alpha1", "kind": "IAMRole",
            "metadata": {"name": "dev", "uid": "uid-dev"},
            "spec": spec
        }))
        .unwrap()
    }

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
            resources: Some(resources.iter().map(|s| s.to_string()).collect()),
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn templates() -> Vec<RoleTemplate> {
        vec![
            template(
                "pods",
                json!({}),
                json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]),
            ),
            template(
                "viewer-a",
                json!({"viewer": "true"}),
                json!([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}]),
            ),
            template(
                "viewer-b",
                json!({"viewer": "true"}),
                json!([{"apiGroups": [""], "resources": ["services"], "verbs": ["watch"]}]),
            ),
        ]
    }

    #[test]
    fn inline_named_and_selected_rules_in_engine_order() {
        let r = role(json!({
            "scope": "Namespace",
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
            "roleTemplates": ["pods"],
            "templateSelector": {"matchLabels": {"viewer": "true"}}
        }));
        let cr = desired_cluster_role(&r, &templates()).unwrap();
        assert_eq!(cr.metadata.name.as_deref(), Some("scopegate:iamrole:dev"));
        assert_eq!(
            cr.rules.unwrap(),
            vec![
                rule(&[""], &["secrets"], &["get"]),
                rule(&[""], &["pods"], &["get"]),
                rule(&["apps"], &["deployments"], &["list"]),
                rule(&[""], &["services"], &["watch"]),
            ]
        );
        let labels = cr.metadata.labels.unwrap();
        assert_eq!(labels[MANAGED_BY_LABEL], "scopegate");
        assert_eq!(labels[IAMROLE_LABEL], "dev");
        let owner = &cr.metadata.owner_references.unwrap()[0];
        assert_eq!(owner.api_version, "iam.theriseunion.io/v1alpha1");
        assert_eq!(owner.kind, "IAMRole");
        assert_eq!(owner.name, "dev");
        assert_eq!(owner.uid, "uid-dev");
        assert_eq!(owner.controller, Some(true));
        assert_eq!(owner.block_owner_deletion, Some(true));
        assert!(cr.aggregation_rule.is_none());
    }

    #[test]
    fn agrees_with_the_engine_resolution() {
        let r = role(json!({
            "scope": "Workspace",
            "roleTemplates": ["pods", "viewer-a"],
            "templateSelector": {}
        }));
        let engine = effective_rules(&r, &templates()).unwrap();
        let cr = desired_cluster_role(&r, &templates()).unwrap();
        // Duplicates (viewer-a named and selected) are dropped; the rest is the same, in order.
        let mut expected: Vec<PolicyRule> = Vec::new();
        for rule in engine.rules {
            if !expected.contains(&rule) {
                expected.push(rule);
            }
        }
        assert_eq!(cr.rules.unwrap(), expected);
    }

    #[test]
    fn a_removed_template_takes_its_rules_away() {
        let r = role(json!({
            "scope": "Namespace",
            "templateSelector": {"matchLabels": {"viewer": "true"}}
        }));
        let before = desired_cluster_role(&r, &templates()).unwrap();
        assert_eq!(before.rules.as_ref().unwrap().len(), 2);
        let fewer: Vec<RoleTemplate> = templates()
            .into_iter()
            .filter(|t| t.metadata.name.as_deref() != Some("viewer-b"))
            .collect();
        let after = desired_cluster_role(&r, &fewer).unwrap();
        assert_eq!(
            after.rules.unwrap(),
            vec![rule(&["apps"], &["deployments"], &["list"])]
        );
    }

    #[test]
    fn a_template_that_stops_matching_takes_its_rules_away() {
        let r = role(json!({
            "scope": "Namespace",
            "templateSelector": {"matchLabels": {"viewer": "true"}}
        }));
        let mut changed = templates();
        changed[2].metadata.labels = Some([("viewer".to_string(), "no".to_string())].into());
        let cr = desired_cluster_role(&r, &changed).unwrap();
        assert_eq!(
            cr.rules.unwrap(),
            vec![rule(&["apps"], &["deployments"], &["list"])]
        );
    }

    #[test]
    fn a_changed_template_changes_the_rules() {
        let r = role(json!({"scope": "Namespace", "roleTemplates": ["pods"]}));
        let mut changed = templates();
        changed[0].spec.rules = vec![rule(&[""], &["pods"], &["list"])];
        let cr = desired_cluster_role(&r, &changed).unwrap();
        assert_eq!(cr.rules.unwrap(), vec![rule(&[""], &["pods"], &["list"])]);
    }

    #[test]
    fn a_missing_named_template_is_an_error_and_revokes_everything() {
        let r = role(json!({
            "scope": "Namespace",
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
            "roleTemplates": ["pods"]
        }));
        let before = desired_cluster_role(&r, &templates()).unwrap();
        let without: Vec<RoleTemplate> = templates().into_iter().skip(1).collect();
        let err = desired_cluster_role(&r, &without).unwrap_err();
        assert_eq!(err.reason(), "RoleHasErrors");
        assert!(err.to_string().contains("spec.roleTemplates[0]"), "{err}");
        assert!(err.to_string().contains("\"pods\""), "{err}");
        // Nothing desired against what exists: the stale ClusterRole is deleted.
        let observed = crate::materialize::DesiredRbac {
            cluster_roles: vec![before],
            ..Default::default()
        };
        let plan = diff::plan(Default::default(), observed);
        assert!(plan.apply.is_empty());
        assert_eq!(plan.delete.len(), 1);
        assert_eq!(plan.delete[0].name, "scopegate:iamrole:dev");
    }

    #[test]
    fn an_invalid_selector_is_an_error() {
        let mut r = role(json!({"scope": "Namespace"}));
        r.spec.template_selector = Some(LabelSelector {
            match_expressions: Some(vec![
                k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                    key: "viewer".into(),
                    operator: "Equals".into(),
                    values: Some(vec!["true".into()]),
                },
            ]),
            match_labels: None,
        });
        let err = desired_cluster_role(&r, &templates()).unwrap_err();
        assert!(matches!(err, MaterializeError::RoleHasErrors { .. }));
        assert!(err.to_string().contains("spec.templateSelector"), "{err}");
    }

    #[test]
    fn rules_the_api_server_would_refuse_are_rewritten_not_kept() {
        let r = role(json!({
            "scope": "Cluster",
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": []},
                {"resources": ["pods"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["pods"], "nonResourceURLs": ["/metrics"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["pods"], "resourceNames": [], "verbs": ["get"]}
            ]
        }));
        let cr = desired_cluster_role(&r, &[]).unwrap();
        assert_eq!(
            cr.rules.unwrap(),
            vec![
                rule(&[""], &["pods"], &["get"]),
                PolicyRule {
                    non_resource_urls: Some(vec!["/metrics".into()]),
                    verbs: vec!["get".into()],
                    ..Default::default()
                },
            ]
        );
    }

    #[test]
    fn a_role_without_rules_has_an_empty_cluster_role() {
        let r = role(json!({"scope": "Platform", "uiPermissions": ["platform.view"]}));
        let cr = desired_cluster_role(&r, &[]).unwrap();
        assert_eq!(cr.rules, Some(vec![]));
        assert_eq!(r.spec.scope, ScopeKind::Platform);
    }

    #[test]
    fn a_nameless_role_is_an_error() {
        let mut r = role(json!({"scope": "Platform"}));
        r.metadata.name = None;
        assert_eq!(
            desired_cluster_role(&r, &[]).unwrap_err(),
            MaterializeError::Unnamed("IAMRole")
        );
    }

    #[test]
    fn idempotent() {
        let r = role(json!({"scope": "Namespace", "roleTemplates": ["pods"]}));
        let a = desired_cluster_role(&r, &templates()).unwrap();
        let b = desired_cluster_role(&r, &templates()).unwrap();
        assert_eq!(a, b);
        let plan = diff::plan(
            crate::materialize::DesiredRbac {
                cluster_roles: vec![a],
                ..Default::default()
            },
            crate::materialize::DesiredRbac {
                cluster_roles: vec![b],
                ..Default::default()
            },
        );
        assert!(plan.is_empty(), "{plan:?}");
    }
}
