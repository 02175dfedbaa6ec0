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

// ---- helpers ----

const ROLE: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader, namespace: team-a}\nrules: [{apiGroups: [\"\"], resources: [pods], verbs: [get]}]\n";
const CLUSTER_ROLE: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: viewer}\nrules: []\n";
const WORKSPACE: &str = "apiVersion: scope.theriseunion.io/v1alpha1\nkind: Workspace\nmetadata: {name: ws-a}\nspec: {}\n";

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "scopegate-load-test-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.0.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn names_of_roles(objects: &PolicyObjects) -> Vec<String> {
    let mut names: Vec<String> = objects
        .roles
        .iter()
        .map(|r| r.metadata.name.clone().unwrap_or_default())
        .chain(
            objects
                .cluster_roles
                .iter()
                .map(|r| r.metadata.name.clone().unwrap_or_default()),
        )
        .collect();
    names.sort();
    names
}

// ---- documents and formats ----

#[test]
fn multi_document_yaml_reads_every_document() {
    let text = format!("{ROLE}---\n{CLUSTER_ROLE}---\n{WORKSPACE}");
    let objects = parse_str(&text, "multi.yaml").unwrap();
    assert_eq!(objects.roles.len(), 1);
    assert_eq!(objects.cluster_roles.len(), 1);
    assert_eq!(objects.workspaces.len(), 1);
    assert_eq!(objects.len(), 3);
}

#[test]
fn leading_separator_comments_and_empty_documents_are_fine() {
    let text = format!("# policy\n---\n{ROLE}---\n---\n{CLUSTER_ROLE}---\n");
    let objects = parse_str(&text, "multi.yaml").unwrap();
    assert_eq!(names_of_roles(&objects), vec!["reader", "viewer"]);
}

#[test]
fn kind_list_reads_every_item() {
    let text = r#"
apiVersion: v1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata: {name: a}
  rules: []
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata: {name: b}
  rules: []
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: not-policy}
"#;
    let (objects, problems) = parse_documents(text, Path::new("list.yaml"));
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(names_of_roles(&objects.objects), vec!["a", "b"]);
    assert_eq!(objects.skipped.get("v1/ConfigMap"), Some(&1));
}

#[test]
fn typed_list_kinds_are_lists_too() {
    let text = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleList\nitems:\n- apiVersion: rbac.authorization.k8s.io/v1\n  kind: ClusterRole\n  metadata: {name: a}\n";
    let objects = parse_str(text, "list.yaml").unwrap();
    assert_eq!(names_of_roles(&objects), vec!["a"]);
}

#[test]
fn empty_list_reads_nothing() {
    let objects = parse_str("apiVersion: v1\nkind: List\nitems: []\n", "l.yaml").unwrap();
    assert!(objects.is_empty());
}

#[test]
fn list_with_bad_items_reports_every_bad_item_with_its_index() {
    let text = r#"apiVersion: v1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata: {name: ok}
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata: {name: bad-1}
  rules: "not a list"
- apiVersion: iam.theriseunion.io/v1alpha1
  kind: IAMRole
  metadata: {name: bad-2}
  spec: {scope: Galaxy}
"#;
    let err = parse_str(text, "list.yaml").unwrap_err();
    let fields: Vec<Option<String>> = err.problems.iter().map(|p| p.field.clone()).collect();
    assert_eq!(
        fields,
        vec![
            Some("items[1].rules".to_string()),
            Some("items[2].spec.scope".to_string())
        ]
    );
    assert_eq!(err.problems[0].object.as_deref(), Some("ClusterRole bad-1"));
    assert_eq!(err.problems[1].object.as_deref(), Some("IAMRole bad-2"));
}

#[test]
fn list_inside_a_list_is_refused() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items: []\n";
    let err = parse_str(text, "l.yaml").unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert!(
        err.problems[0].message.contains("List"),
        "{}",
        err.problems[0]
    );
}

#[test]
fn list_items_that_are_not_a_sequence_name_items() {
    let err = parse_str("apiVersion: v1\nkind: List\nitems: {a: 1}\n", "l.yaml").unwrap_err();
    assert_eq!(err.problems[0].field.as_deref(), Some("items"));
}

#[test]
fn json_documents_are_read() {
    let text = r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "viewer"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}"#;
    let objects = parse_str(text, "role.json").unwrap();
    assert_eq!(objects.cluster_roles.len(), 1);
    assert_eq!(
        objects.cluster_roles[0].rules.as_ref().unwrap()[0].verbs,
        vec!["get"]
    );
}

#[test]
fn json_indented_with_tabs_is_read() {
    let text = "{\n\t\"apiVersion\": \"rbac.authorization.k8s.io/v1\",\n\t\"kind\": \"ClusterRole\",\n\t\"metadata\": {\n\t\t\"name\": \"viewer\"\n\t},\n\t\"rules\": []\n}\n";
    let objects = parse_str(text, "role.json").unwrap();
    assert_eq!(names_of_roles(&objects), vec!["viewer"]);
}

#[test]
fn json_list_is_read() {
    let text = r#"{"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "a"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "b"}}]}"#;
    let objects = parse_str(text, "list.json").unwrap();
    assert_eq!(names_of_roles(&objects), vec!["a", "b"]);
}

// ---- kinds ----

#[test]
fn unknown_kinds_are_skipped_and_counted_by_api_version_and_kind() {
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: b}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\n---\n{ROLE}"
    );
    let (parsed, problems) = parse_documents(&text, Path::new("mixed.yaml"));
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(parsed.objects.len(), 1);
    assert_eq!(parsed.skipped.get("v1/ConfigMap"), Some(&2));
    assert_eq!(parsed.skipped.get("apps/v1/Deployment"), Some(&1));
    assert_eq!(parsed.skipped.len(), 2);
}

#[test]
fn known_kind_name_in_a_foreign_group_is_skipped_not_an_error() {
    // Cluster API's Cluster is not Scopegate's Cluster.
    let text = "apiVersion: cluster.x-k8s.io/v1beta1\nkind: Cluster\nmetadata: {name: c}\nspec: {whatever: 1}\n";
    let (parsed, problems) = parse_documents(text, Path::new("capi.yaml"));
    assert!(problems.is_empty(), "{problems:?}");
    assert!(parsed.objects.is_empty());
    assert_eq!(
        parsed.skipped.get("cluster.x-k8s.io/v1beta1/Cluster"),
        Some(&1)
    );
}

#[test]
fn wrong_api_version_for_a_known_kind_is_an_error_naming_api_version() {
    for api_version in [
        "rbac.authorization.k8s.io/v1beta1",
        "iam.theriseunion.io/v1alpha1",
        "v1",
    ] {
        let text = format!(
            "apiVersion: {api_version}\nkind: ClusterRole\nmetadata: {{name: viewer}}\nrules: []\n"
        );
        let err = parse_str(&text, "r.yaml").unwrap_err();
        assert_eq!(err.problems.len(), 1, "{api_version}");
        let p = &err.problems[0];
        assert_eq!(p.field.as_deref(), Some("apiVersion"), "{api_version}");
        assert_eq!(p.object.as_deref(), Some("ClusterRole viewer"));
        assert!(
            p.message.contains("rbac.authorization.k8s.io/v1"),
            "{}",
            p.message
        );
    }
}

#[test]
fn iam_kind_at_another_version_is_an_error() {
    let text = "apiVersion: iam.theriseunion.io/v1\nkind: IAMRole\nmetadata: {name: dev}\nspec: {scope: Platform}\n";
    let err = parse_str(text, "r.yaml").unwrap_err();
    assert_eq!(err.problems[0].field.as_deref(), Some("apiVersion"));
}

#[test]
fn missing_api_version_is_an_error_naming_api_version() {
    let err = parse_str("kind: ClusterRole\nmetadata: {name: viewer}\n", "r.yaml").unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].field.as_deref(), Some("apiVersion"));
    assert_eq!(err.problems[0].document, Some(1));
}

#[test]
fn missing_kind_is_an_error_naming_kind() {
    let err = parse_str(
        "apiVersion: rbac.authorization.k8s.io/v1\nmetadata: {name: viewer}\n",
        "r.yaml",
    )
    .unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].field.as_deref(), Some("kind"));
    assert_eq!(err.problems[0].object.as_deref(), Some("object viewer"));
}

#[test]
fn non_mapping_document_is_an_error() {
    for text in ["- a\n- b\n", "just a string\n", "42\n"] {
        let err = parse_str(text, "r.yaml").unwrap_err();
        assert_eq!(err.problems.len(), 1, "{text:?}");
        assert!(
            err.problems[0].message.contains("expected an object"),
            "{text:?}: {}",
            err.problems[0]
        );
    }
}

#[test]
fn unknown_field_value_names_the_field_path() {
    let text = "apiVersion: iam.theriseunion.io/v1alpha1\nkind: IAMRole\nmetadata: {name: dev}\nspec:\n  scope: Workspace\n  rules: [{verbs: get}]\n";
    let err = parse_str(text, "r.yaml").unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!(
        err.problems[0].field.as_deref(),
        Some("spec.rules[0].verbs")
    );
    assert_eq!(err.problems[0].object.as_deref(), Some("IAMRole dev"));
}

// ---- where problems are ----

#[test]
fn every_problem_is_collected_with_its_document_index_and_line() {
    let text = format!(
        "{ROLE}---\nkind: ClusterRole\nmetadata: {{name: a}}\n---\n{CLUSTER_ROLE}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: b}}\nrules: 3\n"
    );
    let err = parse_str(&text, "many.yaml").unwrap_err();
    let found: Vec<(Option<usize>, Option<usize>, Option<&str>)> = err
        .problems
        .iter()
        .map(|p| (p.document, p.line, p.field.as_deref()))
        .collect();
    // ROLE is 4 lines, so document 2 starts on line 6; CLUSTER_ROLE is 4 lines, so
    // document 4 starts on line 14.
    assert_eq!(
        found,
        vec![
            (Some(2), Some(6), Some("apiVersion")),
            (Some(4), Some(14), Some("rules"))
        ]
    );
    assert!(
        err.problems
            .iter()
            .all(|p| p.file == Path::new("many.yaml"))
    );
}

#[test]
fn problem_display_is_file_line_document_object_field_message() {
    let text = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: viewer}\nrules: 3\n";
    let err = parse_str(text, "dir/r.yaml").unwrap_err();
    let shown = err.problems[0].to_string();
    assert!(
        shown.starts_with("dir/r.yaml:1: document 1 (ClusterRole viewer): rules: "),
        "{shown}"
    );
}

#[test]
fn yaml_syntax_error_reports_its_line() {
    let text = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: viewer\nrules: []\n";
    let err = parse_str(text, "broken.yaml").unwrap_err();
    assert_eq!(err.problems.len(), 1);
    let p = &err.problems[0];
    assert_eq!(p.document, Some(1));
    let line = p.line.expect("a line");
    assert!((3..=4).contains(&line), "line {line}: {p}");
}

#[test]
fn yaml_syntax_error_in_a_later_document_reports_that_document_and_line() {
    let text = format!("{CLUSTER_ROLE}---\nkind: [unclosed\n");
    let err = parse_str(&text, "broken.yaml").unwrap_err();
    assert_eq!(err.problems.len(), 1);
    let p = &err.problems[0];
    assert_eq!(p.document, Some(2));
    let line = p.line.expect("a line");
    assert!((6..=7).contains(&line), "line {line}: {p}");
}

#[test]
fn load_error_display_lists_every_problem_one_per_line() {
    let text = "kind: Role\n---\nkind: Role\n";
    let err = parse_str(text, "r.yaml").unwrap_err();
    assert_eq!(err.to_string().lines().count(), 2);
}

#[test]
fn sources_record_file_document_and_line_of_each_object() {
    let text = format!("{ROLE}---\n{CLUSTER_ROLE}");
    let objects = parse_str(&text, "src.yaml").unwrap();
    let role = ObjectRef::namespaced(ObjectKind::Role, "team-a", "reader");
    let cluster_role = ObjectRef::cluster_scoped(ObjectKind::ClusterRole, "viewer");
    let s = &objects.sources[&role];
    assert_eq!((s.document, s.line), (1, Some(1)));
    let s = &objects.sources[&cluster_role];
    assert_eq!(
        (s.file.as_path(), s.document, s.line),
        (Path::new("src.yaml"), 2, Some(6))
    );
}

// ---- files and directories ----

#[test]
fn directories_are_walked_recursively_for_yaml_yml_and_json_only() {
    let dir = TempDir::new("walk");
    dir.write("a.yaml", &ROLE.replace("reader", "from-yaml"));
    dir.write(
        "nested/deeper/b.yml",
        &CLUSTER_ROLE.replace("viewer", "from-yml"),
    );
    dir.write(
        "nested/c.json",
        r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "from-json"}}"#,
    );
    dir.write("README.md", "# not yaml: [");
    dir.write("notes.txt", "kind: [broken");
    dir.write(
        "policy.yaml.bak",
        &CLUSTER_ROLE.replace("viewer", "from-backup"),
    );
    let manifests = load_paths(&[&dir.0]).unwrap();
    assert_eq!(
        names_of_roles(&manifests.objects),
        vec!["from-json", "from-yaml", "from-yml"]
    );
    assert_eq!(manifests.files.len(), 3);
}

#[test]
fn dot_files_and_dot_directories_are_skipped() {
    let dir = TempDir::new("dots");
    dir.write("visible.yaml", CLUSTER_ROLE);
    dir.write(".hidden.yaml", "kind: [broken");
    dir.write("..data/x.yaml", &CLUSTER_ROLE.replace("viewer", "twice"));
    dir.write(".git/config.yaml", "kind: [broken");
    dir.write("sub/.also-hidden.yml", "kind: [broken");
    let manifests = load_paths(&[&dir.0]).unwrap();
    assert_eq!(names_of_roles(&manifests.objects), vec!["viewer"]);
}

#[test]
fn several_paths_are_all_read_files_and_directories_alike() {
    let dir = TempDir::new("several");
    let file = dir.write("one/role.yaml", ROLE);
    dir.write("two/a.yaml", CLUSTER_ROLE);
    dir.write("two/b.yaml", WORKSPACE);
    let manifests = load_paths(&[file, dir.0.join("two")]).unwrap();
    assert_eq!(manifests.objects.roles.len(), 1);
    assert_eq!(manifests.objects.cluster_roles.len(), 1);
    assert_eq!(manifests.objects.workspaces.len(), 1);
    assert_eq!(manifests.files.len(), 3);
}

#[test]
fn an_explicitly_named_file_is_read_whatever_its_extension() {
    let dir = TempDir::new("explicit");
    let file = dir.write("policy.txt", CLUSTER_ROLE);
    let manifests = load_paths(&[file]).unwrap();
    assert_eq!(manifests.objects.cluster_roles.len(), 1);
}

#[test]
fn skipped_kinds_are_summed_across_files() {
    let dir = TempDir::new("skipped");
    dir.write(
        "a.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n",
    );
    dir.write(
        "b.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: b}\n",
    );
    let manifests = load_paths(&[&dir.0]).unwrap();
    assert_eq!(manifests.skipped.get("v1/Secret"), Some(&2));
    assert!(manifests.objects.is_empty());
}

#[test]
fn problems_in_several_files_are_all_reported_and_nothing_is_half_loaded() {
    let dir = TempDir::new("errors");
    dir.write("a-good.yaml", CLUSTER_ROLE);
    dir.write(
        "b-bad.yaml",
        "kind: ClusterRole\nmetadata: {name: x}\n---\nkind: ClusterRole\nmetadata: {name: y}\n",
    );
    dir.write("c-bad.yaml", "kind: [unclosed\n");
    let err = load_paths(&[&dir.0]).unwrap_err();
    let where_: Vec<(String, Option<usize>)> = err
        .problems
        .iter()
        .map(|p| {
            (
                p.file.file_name().unwrap().to_string_lossy().into_owned(),
                p.document,
            )
        })
        .collect();
    assert_eq!(
        where_,
        vec![
            ("b-bad.yaml".to_string(), Some(1)),
            ("b-bad.yaml".to_string(), Some(2)),
            ("c-bad.yaml".to_string(), Some(1)),
        ]
    );
}

#[test]
fn missing_path_is_a_problem_naming_it() {
    let dir = TempDir::new("missing");
    let missing = dir.0.join("nope.yaml");
    let err = load_paths(&[&missing]).unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!(err.problems[0].file, missing);
    assert!(err.problems[0].message.contains("cannot read"));
}

#[test]
fn load_policy_refuses_objects_that_do_not_make_sense_together() {
    let dir = TempDir::new("policy");
    dir.write(
        "b.yaml",
        "apiVersion: iam.theriseunion.io/v1alpha1\nkind: IAMRoleBinding\nmetadata: {name: b}\nspec:\n  subjects: [{kind: User, name: alice}]\n  roleRef: {kind: IAMRole, name: ghost}\n  scope: {kind: Platform}\n",
    );
    let err = load_policy(&[&dir.0], &PolicyOptions::default()).unwrap_err();
    assert!(matches!(err, PolicyLoadError::Invalid(_)));
    let shown = err.to_string();
    assert!(shown.contains("b.yaml"), "{shown}");
    assert!(shown.contains("spec.roleRef.name"), "{shown}");
}

#[test]
fn unknown_fields_are_reported_with_their_path_and_do_not_stop_the_load() {
    let dir = std::env::temp_dir().join(format!("scopegate-unknown-fields-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("typo.yaml");
    std::fs::write(
        &file,
        "apiVersion: iam.theriseunion.io/v1alpha1\nkind: IAMRole\nmetadata: {name: r}\nspec:\n  scope: Platform\n  roleTemplate: [x]\n  rules: [{apiGroups: [\"\"], resources: [pods], verbs: [get], resourceName: [a]}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: n}\nrules: []\n",
    )
    .unwrap();
    let manifests = load_paths(&[&file]).expect("unknown fields are warnings, not errors");
    let _ = std::fs::remove_dir_all(&dir);
    let fields: Vec<_> = manifests
        .unknown_fields
        .iter()
        .map(|p| p.field.clone().unwrap_or_default())
        .collect();
    assert_eq!(fields, ["spec.roleTemplate", "spec.rules[0].resourceName"]);
    let shown = manifests.unknown_fields[0].to_string();
    assert!(
        shown.contains("document 1 (IAMRole r): spec.roleTemplate: unknown field"),
        "{shown}"
    );
    assert_eq!(manifests.objects.iam_roles.len(), 1);
    assert_eq!(manifests.objects.roles.len(), 1);
}

// ---- files read again and again (PolicyFiles) ----

fn cluster_role(name: &str) -> String {
    CLUSTER_ROLE.replace("viewer", name)
}

fn cluster_role_names(read: &FilesRead) -> Vec<String> {
    let mut names: Vec<String> = read
        .manifests
        .objects
        .cluster_roles
        .iter()
        .filter_map(|r| r.metadata.name.clone())
        .collect();
    names.sort();
    names
}

fn stale_names(read: &FilesRead) -> Vec<String> {
    read.stale
        .iter()
        .map(|s| s.file.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_broken_file_counts_with_its_last_clean_contents_and_a_clean_change_elsewhere_counts_now() {
    let dir = TempDir::new("stale");
    dir.write("a.yaml", &cluster_role("a-old"));
    dir.write(
        "b.yaml",
        &format!("{}---\n{}", cluster_role("b1"), cluster_role("b2")),
    );
    let mut files = PolicyFiles::new(vec![dir.0.clone()]);
    let first = files.read();
    assert!(first.is_clean());
    assert_eq!(cluster_role_names(&first), ["a-old", "b1", "b2"]);

    // a.yaml breaks; b.yaml revokes b2 at the same time.
    dir.write("a.yaml", "kind: [unclosed\n");
    dir.write("b.yaml", &cluster_role("b1"));
    let second = files.read();
    assert_eq!(cluster_role_names(&second), ["a-old", "b1"]);
    assert_eq!(stale_names(&second), ["a.yaml"]);
    assert_eq!(second.problems.len(), 1);
    assert!(second.problems[0].file.ends_with("a.yaml"));
    assert_eq!(second.clean_files, 1);

    // Still broken in another way: still the last clean contents.
    dir.write(
        "a.yaml",
        &format!("{}---\nkind: ClusterRole\n", cluster_role("a-half")),
    );
    let third = files.read();
    assert_eq!(cluster_role_names(&third), ["a-old", "b1"]);

    // Fixed: the file counts as it is now.
    dir.write("a.yaml", &cluster_role("a-new"));
    let fourth = files.read();
    assert!(fourth.is_clean());
    assert!(fourth.stale.is_empty());
    assert_eq!(cluster_role_names(&fourth), ["a-new", "b1"]);
}

#[test]
fn a_file_broken_since_the_first_read_counts_with_the_documents_that_read() {
    let dir = TempDir::new("broken-first");
    dir.write(
        "a.yaml",
        &format!(
            "{}---\napiVersion: iam.theriseunion.io/v1alpha1\nkind: IAMRoleBinding\nmetadata: {{name: bad}}\nspec: {{scope: {{kind: Galaxy}}}}\n---\n{}",
            cluster_role("before"),
            cluster_role("after")
        ),
    );
    let mut files = PolicyFiles::new(vec![dir.0.clone()]);
    let read = files.read();
    assert_eq!(read.problems.len(), 1, "{:?}", read.problems);
    assert_eq!(read.problems[0].document, Some(2));
    assert!(read.stale.is_empty());
    assert_eq!(cluster_role_names(&read), ["after", "before"]);
    assert!(read.manifests.objects.iam_role_bindings.is_empty());
    // read_paths, which check and validate use, reads the same.
    let (manifests, problems) = read_paths(&[&dir.0]);
    assert_eq!(problems, read.problems);
    assert_eq!(manifests.objects.len(), read.manifests.objects.len());
}

#[test]
fn a_deleted_file_counts_for_nothing() {
    let dir = TempDir::new("deleted");
    let a = dir.write("a.yaml", &cluster_role("a"));
    dir.write("b.yaml", &cluster_role("b"));
    let mut files = PolicyFiles::new(vec![dir.0.clone()]);
    assert_eq!(cluster_role_names(&files.read()), ["a", "b"]);
    std::fs::remove_file(a).unwrap();
    let read = files.read();
    assert!(read.is_clean());
    assert_eq!(cluster_role_names(&read), ["b"]);
}

#[test]
fn a_named_path_that_vanishes_keeps_the_last_clean_contents_of_its_files() {
    let dir = TempDir::new("vanished");
    dir.write("policies/a.yaml", &cluster_role("a"));
    let kept = dir.write("other.yaml", &cluster_role("other"));
    let mut files = PolicyFiles::new(vec![dir.0.join("policies"), kept.clone()]);
    assert_eq!(cluster_role_names(&files.read()), ["a", "other"]);
    std::fs::remove_dir_all(dir.0.join("policies")).unwrap();
    std::fs::write(&kept, cluster_role("other-new")).unwrap();
    let read = files.read();
    assert_eq!(cluster_role_names(&read), ["a", "other-new"]);
    assert_eq!(stale_names(&read), ["a.yaml"]);
    assert!(
        read.problems[0].message.contains("cannot read"),
        "{:?}",
        read.problems
    );
}
