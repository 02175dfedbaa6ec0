//! Reading policy from manifests: YAML and JSON files, multi-document files, `kind: List`,
//! and directories (recursively). Every problem is collected, each naming the file, the
//! document, the object and the field, and nothing is half-loaded: a load yields every
//! object or an error.

use crate::model::{Cluster, IamRole, IamRoleBinding, NodeGroup, RoleTemplate, Workspace};
use crate::objects::{ObjectKind, ObjectRef, PolicyObjects, Source};
use crate::policy::{InvalidPolicy, Policy, PolicyOptions};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

mod files;
pub use files::{FilesRead, PolicyFiles, StaleFile};

/// One thing wrong with the manifests: where, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadProblem {
    /// The file (or the path that could not be read).
    pub file: PathBuf,
    /// The line of the problem, counting from 1, when known.
    pub line: Option<usize>,
    /// The document's position in its file, counting from 1, when the problem is in one.
    pub document: Option<usize>,
    /// The object, e.g. `IAMRoleBinding alice-dev`, when its kind and name could be read.
    pub object: Option<String>,
    /// The field, e.g. `spec.scope.kind`, when the problem is in one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(document) = self.document {
            write!(f, ": document {document}")?;
            if let Some(object) = &self.object {
                write!(f, " ({object})")?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Manifests that could not be read: every problem found, not only the first.
#[derive(Debug, thiserror::Error)]
pub struct LoadError {
    /// Every problem, in file and document order.
    pub problems: Vec<LoadProblem>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Why a policy could not be loaded from files.
#[derive(Debug, thiserror::Error)]
pub enum PolicyLoadError {
    /// A manifest could not be read or parsed.
    #[error("{0}")]
    Parse(#[from] LoadError),
    /// The manifests parse but do not make sense together.
    #[error("{}", .0.errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(#[from] InvalidPolicy),
}

/// What a load read: the objects, and the kinds it skipped because they are not policy.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    /// Every policy object read.
    pub objects: PolicyObjects,
    /// Kinds that were skipped (`apiVersion/kind` → how many documents).
    pub skipped: BTreeMap<String, usize>,
    /// The files read.
    pub files: Vec<PathBuf>,
    /// Fields no object kind has, which were ignored: usually a typo (`roleTemplate:` for
    /// `roleTemplates:`) that silently drops what was meant, so tools show them.
    pub unknown_fields: Vec<LoadProblem>,
}

/// Reads every manifest under `paths` (files, or directories walked recursively for
/// `*.yaml`, `*.yml` and `*.json`; names starting with `.` are skipped, as Kubernetes'
/// ConfigMap volumes keep their bookkeeping there).
pub fn load_paths<P: AsRef<Path>>(paths: &[P]) -> Result<Manifests, LoadError> {
    let (manifests, problems) = read_paths(paths);
    if problems.is_empty() {
        Ok(manifests)
    } else {
        Err(LoadError { problems })
    }
}

/// Reads every manifest under `paths` like [`load_paths`], but keeps going past problems:
/// returns every object that could be read together with every problem found. A document
/// that cannot be read is left out (in a cluster, kube-apiserver would have refused that one
/// object); a YAML syntax error leaves out the rest of its file. For tools that answer from
/// what loads and report every problem at once (`check`, `explain`, `validate`); a server
/// that reads again and again uses [`PolicyFiles`], which keeps a broken file's last clean
/// contents instead.
pub fn read_paths<P: AsRef<Path>>(paths: &[P]) -> (Manifests, Vec<LoadProblem>) {
    let paths = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
    let read = PolicyFiles::new(paths).read();
    (read.manifests, read.problems)
}

impl Manifests {
    /// Adds what one file's documents held.
    fn add(&mut self, parsed: Parsed) {
        self.objects.extend(parsed.objects);
        for (kind, n) in parsed.skipped {
            *self.skipped.entry(kind).or_default() += n;
        }
        self.unknown_fields.extend(parsed.unknown_fields);
    }

    fn warn_skipped(&self) {
        for (kind, n) in &self.skipped {
            tracing::warn!(kind = %kind, documents = n, "skipping objects that are not Scopegate policy");
        }
    }
}

/// Loads files and builds a policy from them, refusing it if anything is wrong.
pub fn load_policy<P: AsRef<Path>>(
    paths: &[P],
    options: &PolicyOptions,
) -> Result<(Policy, Manifests), PolicyLoadError> {
    let manifests = load_paths(paths)?;
    let policy = Policy::from_objects(&manifests.objects, options)?;
    Ok((policy, manifests))
}

/// Parses manifests held in memory, refusing them if anything cannot be read; `file_name` is
/// used in error messages.
pub fn parse_str(text: &str, file_name: impl AsRef<Path>) -> Result<PolicyObjects, LoadError> {
    let (objects, problems) = read_str(text, file_name);
    if problems.is_empty() {
        Ok(objects)
    } else {
        Err(LoadError { problems })
    }
}

/// Parses manifests held in memory like [`read_paths`] reads files: every document that
/// reads, and every problem.
pub fn read_str(text: &str, file_name: impl AsRef<Path>) -> (PolicyObjects, Vec<LoadProblem>) {
    let (parsed, problems) = parse_documents(text, file_name.as_ref());
    (parsed.objects, problems)
}

fn file_problem(file: &Path, message: String) -> LoadProblem {
    LoadProblem {
        file: file.to_path_buf(),
        line: None,
        document: None,
        object: None,
        field: None,
        message,
    }
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn collect_files(
    path: &Path,
    explicit: bool,
    files: &mut Vec<PathBuf>,
    problems: &mut Vec<LoadProblem>,
) {
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            problems.push(file_problem(path, format!("cannot read: {e}")));
            return;
        }
    };
    if metadata.is_file() {
        // A file named on the command line is read whatever its extension.
        if explicit || is_manifest(path) {
            files.push(path.to_path_buf());
        }
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(file_problem(path, format!("cannot list directory: {e}")));
            return;
        }
    };
    let mut children: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    children.sort();
    for child in children {
        collect_files(&child, false, files, problems);
    }
}

/// The line each document of a YAML stream starts on, counting from 1: after each `---`.
fn document_start_lines(text: &str) -> Vec<usize> {
    let mut starts = vec![1];
    for (i, line) in text.lines().enumerate() {
        let is_separator = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if is_separator {
            if i == 0
                || text
                    .lines()
                    .take(i)
                    .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            {
                starts[0] = i + 2;
            } else {
                starts.push(i + 2);
            }
        }
    }
    starts
}

struct Parsed {
    objects: PolicyObjects,
    skipped: BTreeMap<String, usize>,
    unknown_fields: Vec<LoadProblem>,
}

struct DocumentContext<'a> {
    file: &'a Path,
    document: usize,
    line: Option<usize>,
}

impl DocumentContext<'_> {
    fn problem(
        &self,
        object: Option<String>,
        field: Option<String>,
        line: Option<usize>,
        message: String,
    ) -> LoadProblem {
        LoadProblem {
            file: self.file.to_path_buf(),
            line: line.or(self.line),
            document: Some(self.document),
            object,
            field,
            message,
        }
    }
}

/// Parses a file's documents: what could be read, and every problem found.
fn parse_documents(text: &str, file: &Path) -> (Parsed, Vec<LoadProblem>) {
    let starts = document_start_lines(text);
    let mut parsed = Parsed {
        objects: PolicyObjects::default(),
        skipped: BTreeMap::new(),
        unknown_fields: Vec::new(),
    };
    let mut problems = Vec::new();
    for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let context = DocumentContext {
            file,
            document: i + 1,
            line: starts.get(i).copied(),
        };
        let value = match <serde_yaml::Value as serde::Deserialize>::deserialize(document) {
            Ok(value) => value,
            Err(e) => {
                let line = e.location().map(|l| l.line());
                problems.push(context.problem(None, None, line, yaml_message(&e)));
                // A syntax error leaves the rest of the stream unreadable.
                break;
            }
        };
        if value.is_null() {
            continue; // an empty document, e.g. after a trailing `---`
        }
        if let Err(problem) = add_object(value, &context, None, &mut parsed, &mut problems) {
            problems.push(problem);
        }
    }
    (parsed, problems)
}

/// Reads one object (or a List of them) into `parsed`. A List's bad items each add their
/// problem to `problems`, so that every one is reported, not only the first.
// A problem is built at most once per bad document, off every hot path: not worth boxing.
#[allow(clippy::result_large_err)]
fn add_object(
    value: serde_yaml::Value,
    context: &DocumentContext<'_>,
    item: Option<usize>,
    parsed: &mut Parsed,
    problems: &mut Vec<LoadProblem>,
) -> Result<(), LoadProblem> {
    let prefix = item.map(|i| format!("items[{i}].")).unwrap_or_default();
    let field = |name: &str| {
        value
            .get(name)
            .and_then(serde_yaml::Value::as_str)
            .map(str::to_string)
    };
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(serde_yaml::Value::as_str)
        .map(str::to_string);
    let describe = |kind: &str| {
        Some(match &name {
            Some(n) => format!("{kind} {n}"),
            None => kind.to_string(),
        })
    };
    if !value.is_mapping() {
        return Err(context.problem(
            None,
            item.map(|i| format!("items[{i}]")),
            None,
            "expected an object (a mapping with apiVersion and kind)".into(),
        ));
    }
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        let missing = if field("apiVersion").is_none() {
            "apiVersion"
        } else {
            "kind"
        };
        return Err(context.problem(
            describe("object"),
            Some(format!("{prefix}{missing}")),
            None,
            "is required".into(),
        ));
    };
    if kind.ends_with("List") {
        if item.is_some() {
            return Err(context.problem(
                describe(&kind),
                Some(prefix),
                None,
                "a List cannot contain another List".into(),
            ));
        }
        let items = match value.get("items") {
            None | Some(serde_yaml::Value::Null) => return Ok(()),
            Some(serde_yaml::Value::Sequence(items)) => items.clone(),
            Some(_) => {
                return Err(context.problem(
                    describe(&kind),
                    Some("items".into()),
                    None,
                    "expected a list of objects".into(),
                ));
            }
        };
        for (i, entry) in items.into_iter().enumerate() {
            if let Err(e) = add_object(entry, context, Some(i), parsed, problems) {
                problems.push(e);
            }
        }
        return Ok(());
    }
    let Some(object_kind) = ObjectKind::ALL.iter().copied().find(|k| k.as_str() == kind) else {
        *parsed
            .skipped
            .entry(format!("{api_version}/{kind}"))
            .or_default() += 1;
        return Ok(());
    };
    if object_kind.api_version() != api_version {
        let ours = matches!(
            api_version.split('/').next(),
            Some("iam.theriseunion.io" | "scope.theriseunion.io" | "rbac.authorization.k8s.io")
        ) || api_version == "v1";
        if !ours {
            *parsed
                .skipped
                .entry(format!("{api_version}/{kind}"))
                .or_default() += 1;
            return Ok(());
        }
        return Err(context.problem(
            describe(&kind),
            Some(format!("{prefix}apiVersion")),
            None,
            format!(
                "{kind} is read at apiVersion {:?}, not {api_version:?}",
                object_kind.api_version()
            ),
        ));
    }
    let objects = &mut parsed.objects;
    let mut unknown = Vec::new();
    let result = match object_kind {
        ObjectKind::RoleTemplate => {
            typed::<RoleTemplate>(value, &mut unknown).map(|o| objects.role_templates.push(o))
        }
        ObjectKind::IamRole => {
            typed::<IamRole>(value, &mut unknown).map(|o| objects.iam_roles.push(o))
        }
        ObjectKind::IamRoleBinding => {
            typed::<IamRoleBinding>(value, &mut unknown).map(|o| objects.iam_role_bindings.push(o))
        }
        ObjectKind::Cluster => {
            typed::<Cluster>(value, &mut unknown).map(|o| objects.clusters.push(o))
        }
        ObjectKind::Workspace => {
            typed::<Workspace>(value, &mut unknown).map(|o| objects.workspaces.push(o))
        }
        ObjectKind::NodeGroup => {
            typed::<NodeGroup>(value, &mut unknown).map(|o| objects.node_groups.push(o))
        }
        ObjectKind::Role => typed(value, &mut unknown).map(|o| objects.roles.push(o)),
        ObjectKind::ClusterRole => {
            typed(value, &mut unknown).map(|o| objects.cluster_roles.push(o))
        }
        ObjectKind::RoleBinding => {
            typed(value, &mut unknown).map(|o| objects.role_bindings.push(o))
        }
        ObjectKind::ClusterRoleBinding => {
            typed(value, &mut unknown).map(|o| objects.cluster_role_bindings.push(o))
        }
        ObjectKind::Namespace => typed(value, &mut unknown).map(|o| objects.namespaces.push(o)),
        ObjectKind::Node => typed(value, &mut unknown).map(|o| objects.nodes.push(o)),
    };
    match result {
        Ok(()) => {
            let namespace = objects_last_namespace(objects, object_kind);
            let reference = ObjectRef {
                kind: object_kind,
                namespace,
                name: name.clone().unwrap_or_default(),
            };
            let source = Source {
                file: context.file.to_path_buf(),
                document: context.document,
                line: context.line,
            };
            objects.sources.entry(reference).or_insert(source);
            for path in unknown {
                parsed.unknown_fields.push(context.problem(
                    describe(&kind),
                    Some(format!("{prefix}{path}")),
                    None,
                    "unknown field, ignored (a typo?)".to_string(),
                ));
            }
            Ok(())
        }
        Err((path, message)) => {
            let field = if path.is_empty() || path == "." {
                None
            } else {
                Some(format!("{prefix}{path}"))
            };
            Err(context.problem(describe(&kind), field, None, message))
        }
    }
}

/// The namespace of the object just added, for namespaced kinds.
fn objects_last_namespace(objects: &PolicyObjects, kind: ObjectKind) -> Option<String> {
    let namespace = match kind {
        ObjectKind::Role => objects
            .roles
            .last()
            .and_then(|r| r.metadata.namespace.clone()),
        ObjectKind::RoleBinding => objects
            .role_bindings
            .last()
            .and_then(|r| r.metadata.namespace.clone()),
        _ => return None,
    };
    Some(namespace.unwrap_or_default())
}

/// Deserializes one object, or says which field is wrong and how; fields the object's kind
/// does not have are added to `unknown`.
fn typed<T: DeserializeOwned>(
    value: serde_yaml::Value,
    unknown: &mut Vec<String>,
) -> Result<T, (String, String)> {
    let mut record = |path: serde_ignored::Path<'_>| {
        let path = field_path(&path);
        // kube-derive's types read apiVersion and kind from their type, not the document.
        if path != "apiVersion" && path != "kind" {
            unknown.push(path);
        }
    };
    let deserializer = serde_ignored::Deserializer::new(value, &mut record);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        (path, yaml_message(e.inner()))
    })
}

/// A field path as users write it: `spec.rules[0].resourceName`.
fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => {
            let parent = field_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_path(parent),
    }
}

/// serde_yaml's message without its own location suffix (we print the location first).
fn yaml_message(e: &serde_yaml::Error) -> String {
    let message = e.to_string();
    match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => message[..at].to_string(),
        _ => message,
    }
}

#[cfg(test)]
mod tests;
