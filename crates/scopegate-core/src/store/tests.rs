//! The store, one dependency at a time: each test changes one object and checks that what
//! depends on it follows, and that the snapshot still equals a fresh compile of the
//! store's objects (the property test in `tests/store_equivalence.rs` does the same on
//! random sequences).

use super::*;
use crate::decision::Decision;
use crate::diagnostics::Severity;
use crate::load::parse_str;
use crate::request::{Request, ResourceAttributes, SubjectInfo};

fn objects(yaml: &str) -> Vec<PolicyObject> {
    parse_str(yaml, "test.yaml")
        .unwrap_or_else(|e| panic!("test objects do not parse: {e}"))
        .into_objects()
        .collect()
}

fn object(yaml: &str) -> PolicyObject {
    let mut all = objects(yaml);
    assert_eq!(all.len(), 1, "one object expected");
    all.remove(0)
}

/// A store fed `yaml` from the cluster.
fn store(yaml: &str) -> PolicyStore {
    let mut store = PolicyStore::new(PolicyOptions::default());
    let mut all = PolicyObjects::default();
    for o in objects(yaml) {
        all.push(o);
    }
    store.replace_origin(Origin::Cluster, &all);
    store
}

fn apply(store: &mut PolicyStore, yaml: &str) -> ChangeEffect {
    let effect = store.apply(Origin::Cluster, Change::Apply(object(yaml)));
    assert_same_as_fresh(store);
    effect
}

fn delete(store: &mut PolicyStore, kind: ObjectKind, name: &str) -> ChangeEffect {
    let object_ref = ObjectRef::cluster_scoped(kind, name);
    let effect = store.apply(Origin::Cluster, Change::Delete(object_ref));
    assert_same_as_fresh(store);
    effect
}

/// The store's snapshot decides the probes and diagnoses exactly as a fresh compile.
fn assert_same_as_fresh(store: &PolicyStore) {
    let fresh = Policy::compile(&store.objects(), store.options());
    let policy = store.policy();
    assert_eq!(policy.diagnostics(), fresh.diagnostics());
    assert_eq!(policy.grants(), fresh.grants());
    for request in probes() {
        assert_eq!(
            policy.decide(&request),
            fresh.decide(&request),
            "{request:?}"
        );
    }
}

fn pods(user: &str, verb: &str, namespace: &str) -> Request {
    Request::resource(
        user,
        ResourceAttributes {
            verb: verb.into(),
            resource: "pods".into(),
            namespace: namespace.into(),
            ..Default::default()
        },
    )
}

fn probes() -> Vec<Request> {
    let mut out = Vec::new();
    for user in ["alice", "bob"] {
        for verb in ["get", "delete"] {
            for namespace in ["team-a", "team-b"] {
                out.push(pods(user, verb, namespace));
            }
        }
    }
    out
}

fn allows(store: &PolicyStore, request: &Request) -> bool {
    store.policy().decide(request).is_allowed()
}

fn has_diagnostic(store: &PolicyStore, object: &str, severity: Severity, needle: &str) -> bool {
    store
        .policy()
        .diagnostics()
        .iter()
        .any(|d| d.object.name == object && d.severity == severity && d.message.contains(needle))
}

const TEAM_A: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {scope.theriseunion.io/workspace: ws-a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
---
apiVersion: scope.theriseunion.io/v1alpha1
kind: Workspace
metadata: {name: ws-a}
spec: {namespaces: [team-a]}
"#;

/// alice reads pods in workspace ws-a through IAMRole reader, made of the templates its
/// selector picks (tier: read).
const READER: &str = r#"
apiVersion: iam.theriseunion.io/v1alpha1
kind: RoleTemplate
metadata: {name: pod-read, labels: {tier: read}}
spec: {rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]}
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRole
metadata: {name: reader}
spec: {scope: Workspace, templateSelector: {matchLabels: {tier: read}}}
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata: {name: alice-reads}
spec:
  subjects: [{kind: User, name: alice}]
  roleRef: {kind: IAMRole, name: reader}
  scope: {kind: Workspace, name: ws-a}
"#;

fn reader_store() -> PolicyStore {
    let s = store(&format!("{TEAM_A}\n---\n{READER}"));
    assert!(allows(&s, &pods("alice", "get", "team-a")));
    s
}

#[test]
fn relabelling_a_template_out_of_a_selector_revokes() {
    let mut s = reader_store();
    let effect = apply(
        &mut s,
        r#"
apiVersion: iam.theriseunion.io/v1alpha1
kind: RoleTemplate
metadata: {name: pod-read, labels: {tier: write}}
spec: {rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]}
"#,
    );
    assert!(effect.changed);
    assert_eq!(effect.bindings_recompiled, 1);
    assert!(!allows(&s, &pods("alice", "get", "team-a")));
}

#[test]
fn a_template_labelled_into_a_selector_grants() {
    let mut s = reader_store();
    apply(
        &mut s,
        r#"
apiVersion: iam.theriseunion.io/v1alpha1
kind: RoleTemplate
metadata: {name: pod-delete, labels: {tier: read}}
spec: {rules: [{apiGroups: [""], resources: [pods], verbs: [delete]}]}
"#,
    );
    assert!(allows(&s, &pods("alice", "delete", "team-a")));
}

#[test]
fn a_deleted_role_leaves_its_binding_granting_nothing_and_reported() {
    let mut s = reader_store();
    let effect = delete(&mut s, ObjectKind::IamRole, "reader");
    assert_eq!(effect.bindings_recompiled, 1);
    assert!(!allows(&s, &pods("alice", "get", "team-a")));
    assert!(has_diagnostic(
        &s,
        "alice-reads",
        Severity::Error,
        "IAMRole \"reader\" does not exist"
    ));
    // And it comes back with the role.
    apply(
        &mut s,
        r#"
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRole
metadata: {name: reader}
spec: {scope: Workspace, templateSelector: {matchLabels: {tier: read}}}
"#,
    );
    assert!(allows(&s, &pods("alice", "get", "team-a")));
    assert!(s.policy().diagnostics().is_empty());
}

#[test]
fn a_deleted_workspace_leaves_its_bindings_granting_nothing() {
    let mut s = reader_store();
    delete(&mut s, ObjectKind::Workspace, "ws-a");
    assert!(!allows(&s, &pods("alice", "get", "team-a")));
    assert!(has_diagnostic(
        &s,
        "alice-reads",
        Severity::Error,
        "Workspace \"ws-a\" is not declared"
    ));
    assert!(has_diagnostic(
        &s,
        "team-a",
        Severity::Warning,
        "Workspace \"ws-a\" is not declared"
    ));
}

#[test]
fn a_namespace_relabelled_moves_into_and_out_of_a_workspace() {
    let mut s = reader_store();
    assert!(!allows(&s, &pods("alice", "get", "team-b")));
    let effect = apply(
        &mut s,
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: team-b, labels: {scope.theriseunion.io/workspace: ws-a}}
"#,
    );
    assert_eq!(effect.bindings_recompiled, 0);
    assert!(allows(&s, &pods("alice", "get", "team-b")));
    apply(
        &mut s,
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
"#,
    );
    assert!(!allows(&s, &pods("alice", "get", "team-a")));
    assert!(has_diagnostic(
        &s,
        "ws-a",
        Severity::Warning,
        "namespace \"team-a\" is labelled"
    ));
}

const AGGREGATION: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: view}
aggregationRule: {clusterRoleSelectors: [{matchLabels: {aggregate-to-view: "true"}}]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: bob-views}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: User, name: bob}]
"#;

#[test]
fn an_aggregated_cluster_role_follows_a_newly_labelled_cluster_role() {
    let mut s = store(&format!("{TEAM_A}\n---\n{AGGREGATION}"));
    assert!(!allows(&s, &pods("bob", "get", "team-a")));
    let pod_reader = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pod-reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
"#;
    apply(&mut s, pod_reader);
    assert!(!allows(&s, &pods("bob", "get", "team-a")));
    let effect = apply(
        &mut s,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pod-reader, labels: {aggregate-to-view: "true"}}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
"#,
    );
    assert_eq!(effect.bindings_recompiled, 1);
    assert!(allows(&s, &pods("bob", "get", "team-a")));
    apply(&mut s, pod_reader);
    assert!(!allows(&s, &pods("bob", "get", "team-a")));
}

#[test]
fn the_same_object_from_both_origins_is_a_duplicate_the_files_copy_wins() {
    let mut s = reader_store();
    let from_files = object(
        r#"
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata: {name: alice-reads}
spec:
  subjects: [{kind: User, name: bob}]
  roleRef: {kind: IAMRole, name: reader}
  scope: {kind: Workspace, name: ws-a}
"#,
    );
    s.apply(Origin::Files, Change::Apply(from_files.clone()));
    assert_same_as_fresh(&s);
    // Files come first: bob's copy counts, the cluster's is the duplicate.
    assert!(allows(&s, &pods("bob", "get", "team-a")));
    assert!(!allows(&s, &pods("alice", "get", "team-a")));
    assert!(has_diagnostic(
        &s,
        "alice-reads",
        Severity::Error,
        "another IAMRoleBinding has the same name"
    ));
    // The same two copies in one set of objects compile alike.
    let mut both = PolicyObjects::default();
    both.push(from_files);
    for o in s.objects().into_objects() {
        if o.object_ref().name != "alice-reads" {
            both.push(o);
        }
    }
    both.push(object(
        r#"
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata: {name: alice-reads}
spec:
  subjects: [{kind: User, name: alice}]
  roleRef: {kind: IAMRole, name: reader}
  scope: {kind: Workspace, name: ws-a}
"#,
    ));
    let fresh = Policy::compile(&both, &PolicyOptions::default());
    assert_eq!(fresh.diagnostics(), s.policy().diagnostics());
    // Deleting the files' copy leaves the cluster's, alone and granting.
    let binding = ObjectRef::cluster_scoped(ObjectKind::IamRoleBinding, "alice-reads");
    s.apply(Origin::Files, Change::Delete(binding));
    assert_same_as_fresh(&s);
    assert!(allows(&s, &pods("alice", "get", "team-a")));
    assert!(s.policy().diagnostics().is_empty());
}

#[test]
fn a_relist_deletes_the_objects_of_that_kind_and_origin_it_lacks() {
    let mut s = reader_store();
    let namespaces_before = s.objects().namespaces.len();
    let effect = s.replace_kind(Origin::Cluster, ObjectKind::IamRoleBinding, Vec::new());
    assert_same_as_fresh(&s);
    assert!(effect.changed);
    assert!(!allows(&s, &pods("alice", "get", "team-a")));
    assert!(s.objects().iam_role_bindings.is_empty());
    assert_eq!(s.objects().namespaces.len(), namespaces_before);
    // Objects of that kind from the other origin stay.
    s.apply(
        Origin::Files,
        Change::Apply(object(
            r#"
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata: {name: alice-reads}
spec:
  subjects: [{kind: User, name: alice}]
  roleRef: {kind: IAMRole, name: reader}
  scope: {kind: Workspace, name: ws-a}
"#,
        )),
    );
    s.replace_kind(Origin::Cluster, ObjectKind::IamRoleBinding, Vec::new());
    assert_same_as_fresh(&s);
    assert!(allows(&s, &pods("alice", "get", "team-a")));
}

#[test]
fn applying_an_identical_object_changes_nothing() {
    let mut s = reader_store();
    let before = s.policy();
    for o in s.objects().into_objects() {
        let effect = s.apply(Origin::Cluster, Change::Apply(o));
        assert!(!effect.changed);
        assert_eq!(effect.bindings_recompiled, 0);
    }
    let effect = s.apply(
        Origin::Cluster,
        Change::Delete(ObjectRef::cluster_scoped(ObjectKind::Node, "absent")),
    );
    assert_eq!(effect, ChangeEffect::default());
    assert_eq!(s.policy().grants(), before.grants());
}

#[test]
fn a_file_reload_recompiles_only_what_changed_and_keeps_sources() {
    let mut s = PolicyStore::new(PolicyOptions::default());
    let files = format!("{TEAM_A}\n---\n{READER}");
    let mut objects = parse_str(&files, "policy.yaml").expect("parses");
    let effect = s.replace_origin(Origin::Files, &objects);
    assert_eq!(effect.bindings_recompiled, 1);
    // The same files again: nothing changes.
    let effect = s.replace_origin(Origin::Files, &objects);
    assert!(!effect.changed);
    // One object removed from the files: only it (and what depends on it) changes.
    objects.iam_role_bindings.clear();
    let effect = s.replace_origin(Origin::Files, &objects);
    assert_eq!(effect.objects_changed, 1);
    assert_same_as_fresh(&s);
    assert!(!allows(&s, &pods("alice", "get", "team-a")));
    assert_eq!(s.objects().sources, {
        let mut sources = objects.sources.clone();
        sources.retain(|r, _| r.kind != ObjectKind::IamRoleBinding);
        sources
    });
}

#[test]
fn a_snapshot_is_not_changed_by_later_changes() {
    let mut s = reader_store();
    let before = s.policy();
    delete(&mut s, ObjectKind::IamRoleBinding, "alice-reads");
    assert!(before.decide(&pods("alice", "get", "team-a")).is_allowed());
    assert_eq!(
        s.policy().decide(&pods("alice", "get", "team-a")),
        Decision::NoOpinion
    );
    assert_eq!(
        before.ui_permissions(
            &SubjectInfo {
                user: "alice".into(),
                groups: Vec::new()
            },
            &crate::model::Scope::Platform
        ),
        Default::default()
    );
}

#[test]
fn counts_and_length_follow_every_copy() {
    let mut s = reader_store();
    let len = s.len();
    assert_eq!(len, s.objects().len());
    s.apply(
        Origin::Files,
        Change::Apply(object(
            r#"
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
"#,
        )),
    );
    assert_eq!(s.len(), len + 1);
    assert_eq!(s.policy().object_counts()[&ObjectKind::Namespace], 3);
    assert!(!s.is_empty());
    assert_same_as_fresh(&s);
}

#[test]
fn an_object_from_both_origins_is_reported_where_the_files_have_it() {
    let mut s = PolicyStore::new(PolicyOptions::default());
    let from_files = parse_str(READER, "files.yaml").expect("parses");
    let from_cluster = parse_str(READER, "cluster.yaml").expect("parses");
    s.replace_origin(Origin::Cluster, &from_cluster);
    s.replace_origin(Origin::Files, &from_files);
    let duplicate = s
        .policy()
        .diagnostics()
        .iter()
        .find(|d| d.severity == Severity::Error)
        .cloned()
        .expect("the second copy is reported");
    let file = duplicate.source.map(|source| source.file);
    assert_eq!(file, Some("files.yaml".into()));
    // Only the cluster's copy left: its own source.
    s.replace_origin(Origin::Files, &PolicyObjects::default());
    let sources = s.objects().sources;
    assert_eq!(sources.len(), from_cluster.len());
    assert!(
        sources
            .values()
            .all(|s| s.file.as_os_str() == "cluster.yaml"),
        "{sources:?}"
    );
}
