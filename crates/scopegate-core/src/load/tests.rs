//! Manifest loading: kinds, documents, lists and the errors users see.

use super::*;

#[test]
fn wrong_scope_kind_names_file_document_object_and_field() {
    let text = "apiVersion: iam.theriseunion.io/v1alpha1\nkind: IAMRoleBinding\nmetadata: {name: alice-dev}\nspec:\n  subjects: [{kind: User, name: alice}]\n  roleRef: {kind: IAMRole, name: dev}\n  scope: {kind: Workspce, name: w}\n";
    let err = parse_str(text, "policies/team.yaml").unwrap_err();
    assert_eq!(err.problems.len(), 1);
    let shown = err.problems[0].to_string();
    assert!(shown.starts_with("policies/team.yaml:1: document 1 (IAMRoleBinding alice-dev): spec.scope.kind: unknown variant `Workspce`"), "{shown}");
}
