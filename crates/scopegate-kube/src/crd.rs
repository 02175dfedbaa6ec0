//! The CustomResourceDefinitions of Scopegate's objects, generated from the very Rust types
//! the engine and the file loader read ([`scopegate_core::model`]): one definition per object,
//! never a hand-written schema beside it.
//!
//! Six cluster-scoped kinds at version `v1alpha1`, each with a status subresource:
//!
//! | group | kind | plural | short name |
//! |---|---|---|---|
//! | `iam.theriseunion.io` | RoleTemplate | roletemplates | `rtpl` |
//! | `iam.theriseunion.io` | IAMRole | iamroles | `iamrole` |
//! | `iam.theriseunion.io` | IAMRoleBinding | iamrolebindings | `iamrb` |
//! | `scope.theriseunion.io` | Cluster | clusters | `sgcluster` |
//! | `scope.theriseunion.io` | Workspace | workspaces | `ws` |
//! | `scope.theriseunion.io` | NodeGroup | nodegroups | `ng` |
//!
//! All are in the category `scopegate` (`kubectl get scopegate` lists every object), and
//! all print a `Ready` column from their `Ready` condition.
//!
//! The schemas validate what can be validated there: required fields, enums (scope kinds,
//! subject kinds, `roleRef.kind`, selector operators, taint effects), name patterns
//! (namespaces, RoleTemplate and IAMRole references, API groups), quantities, sets. What
//! [`scopegate_core::model::Scope::from_spec`] checks about a scope's fields together is
//! there as CEL rules (`x-kubernetes-validations`, see
//! [`scopegate_core::model::ScopeSpec::CEL_RULES`]), which API servers enforce from v1.25.
//! Older servers do not know the field: they drop it on create and update, and refuse it in a
//! server-side apply; [`without_cel_rules`] makes CRDs for them (`scopegate crd
//! --without-cel-rules`).
//!
//! The generated YAML is committed under `deploy/crds/`, one file per CRD named after it
//! ([`file_name`]); `scopegate crd --out-dir deploy/crds` rewrites them, and a test fails
//! when they differ from what the code generates.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use scopegate_core::model::{Cluster, IamRole, IamRoleBinding, NodeGroup, RoleTemplate, Workspace};
use std::path::{Path, PathBuf};

/// The first line of every generated file: where it comes from and how to regenerate it.
pub const HEADER: &str = "# Generated from the Rust types in crates/scopegate-core/src/model by \
`cargo run -p scopegate -- crd --out-dir deploy/crds`; do not edit.\n";

/// The label every object Scopegate ships carries (`app.kubernetes.io/part-of: scopegate`), so
/// `kubectl get -l` finds the whole installation, CRDs included.
pub const PART_OF_LABEL: (&str, &str) = ("app.kubernetes.io/part-of", "scopegate");

/// Every Scopegate CustomResourceDefinition: RoleTemplate, IAMRole and IAMRoleBinding
/// (`iam.theriseunion.io`), then Cluster, Workspace and NodeGroup (`scope.theriseunion.io`),
/// each labelled [`PART_OF_LABEL`].
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        RoleTemplate::crd(),
        IamRole::crd(),
        IamRoleBinding::crd(),
        Cluster::crd(),
        Workspace::crd(),
        NodeGroup::crd(),
    ];
    for crd in &mut crds {
        crd.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(PART_OF_LABEL.0.to_string(), PART_OF_LABEL.1.to_string());
    }
    crds
}

/// Removes every CEL rule (`x-kubernetes-validations`) from a CRD's schemas, for API servers
/// older than v1.25: they refuse the field in a server-side apply ("field not declared in
/// schema") and drop it silently on create and update. Everything else the schema says is
/// still enforced; the engine still refuses what the rules would have (it reports such a
/// binding as an error and it grants nothing).
pub fn without_cel_rules(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.remove("x-kubernetes-validations");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    for version in &mut crd.spec.versions {
        let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        else {
            continue;
        };
        let Ok(mut value) = serde_json::to_value(&*schema) else {
            continue;
        };
        strip(&mut value);
        if let Ok(stripped) = serde_json::from_value(value) {
            *schema = stripped;
        }
    }
    crd
}

/// One CRD as a YAML document (without a leading `---` or the [`HEADER`]).
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(crd)
}

/// CRDs as one multi-document YAML stream: the [`HEADER`], then each CRD after a `---` line.
/// What `scopegate crd` prints, and what `kubectl apply -f -` takes.
pub fn to_multi_document_yaml(
    crds: &[CustomResourceDefinition],
) -> Result<String, serde_yaml::Error> {
    let mut out = String::from(HEADER);
    for crd in crds {
        out.push_str("---\n");
        out.push_str(&to_yaml(crd)?);
    }
    Ok(out)
}

/// The file a CRD is committed as: its name (`<plural>.<group>`) with `.yaml`, e.g.
/// `iamroles.iam.theriseunion.io.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// The content of a CRD's committed file: the [`HEADER`] and the CRD as YAML.
pub fn file_content(crd: &CustomResourceDefinition) -> Result<String, serde_yaml::Error> {
    Ok(format!("{HEADER}{}", to_yaml(crd)?))
}

/// What writing the CRDs to a directory can fail on.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A CRD did not serialize (a bug in a schema).
    #[error("cannot serialize CRD {name}: {source}")]
    Yaml {
        /// The CRD's name.
        name: String,
        /// What serde_yaml said.
        source: serde_yaml::Error,
    },
    /// The directory or a file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// The files of `crds` as `(file name, content)`, in order; `files(&all())` is what is
/// committed under `deploy/crds/`.
pub fn files(crds: &[CustomResourceDefinition]) -> Result<Vec<(String, String)>, WriteError> {
    crds.iter()
        .map(|crd| {
            let content = file_content(crd).map_err(|source| WriteError::Yaml {
                name: crd.metadata.name.clone().unwrap_or_default(),
                source,
            })?;
            Ok((file_name(crd), content))
        })
        .collect()
}

/// Writes `crds` into `dir` (created if missing), one [`file_name`] file each, and returns the
/// paths written. Files already there with other names are left alone.
pub fn write_dir(
    dir: &Path,
    crds: &[CustomResourceDefinition],
) -> Result<Vec<PathBuf>, WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    files(crds)?
        .into_iter()
        .map(|(name, content)| {
            let path = dir.join(name);
            std::fs::write(&path, content).map_err(|source| WriteError::Io {
                path: path.clone(),
                source,
            })?;
            Ok(path)
        })
        .collect()
}
