//! Validation that the CRD schemas carry beyond what the Rust types say: name patterns,
//! enums on fields of borrowed Kubernetes types, and the markers server-side apply reads.
//! Used through `#[schemars(...)]` attributes on the model's fields; they change the
//! generated schema only, never how a manifest is (de)serialized.
//!
//! The transforms look for the place they change and leave the schema alone when it is not
//! there (as when a generator refers to subschemas by `$ref` instead of inlining them, which
//! the CRD generator never does).

use schemars::Schema;
use serde_json::{Map, Value, json};

/// A DNS-1123 label, as Kubernetes requires of namespace names (at most 63 characters).
pub const DNS1123_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// A DNS-1123 label or the empty string (a Resource scope's namespace is empty for a
/// cluster-scoped object).
pub const DNS1123_LABEL_OR_EMPTY: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$";

/// A DNS-1123 subdomain, as Kubernetes requires of custom resources' names (at most 253
/// characters).
pub const DNS1123_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// A DNS-1123 subdomain or the empty string: an API group, `""` being the core group.
pub const API_GROUP: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$";

/// One plural resource name: no `/` (subresources are not scopes of their own) and no `*`.
pub const RESOURCE_NAME: &str = r"^[^/*]*$";

/// A resource quantity (`500m`, `4`, `16Gi`, `1e3`), the pattern Kubernetes' own CRD
/// generator puts on `resource.Quantity`.
pub const QUANTITY: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

/// The subject kinds Kubernetes RBAC (and the engine) know.
const SUBJECT_KINDS: [&str; 3] = ["User", "Group", "ServiceAccount"];

/// The label selector operators Kubernetes (and the engine) know.
const SELECTOR_OPERATORS: [&str; 4] = ["In", "NotIn", "Exists", "DoesNotExist"];

/// The taint effects Kubernetes knows.
const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// The object schema at `path` (property names, and `items` for array items) below `schema`.
fn at<'a>(schema: &'a mut Schema, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut here = schema.as_object_mut()?;
    for step in path {
        let next = if *step == "items" {
            here.get_mut("items")?
        } else {
            here.get_mut("properties")?.get_mut(*step)?
        };
        here = next.as_object_mut()?;
    }
    Some(here)
}

fn set_enum(schema: &mut Schema, path: &[&str], values: &[&str]) {
    if let Some(field) = at(schema, path) {
        field.insert("enum".into(), json!(values));
    }
}

/// For a list of RBAC subjects: `kind` is one of User, Group and ServiceAccount.
pub fn subject_list(schema: &mut Schema) {
    set_enum(schema, &["items", "kind"], &SUBJECT_KINDS);
}

/// For a label selector: the `matchExpressions` operators Kubernetes knows.
pub fn label_selector(schema: &mut Schema) {
    set_enum(
        schema,
        &["matchExpressions", "items", "operator"],
        &SELECTOR_OPERATORS,
    );
}

/// For a list of taints: `effect` is one Kubernetes knows.
pub fn taint_list(schema: &mut Schema) {
    set_enum(schema, &["items", "effect"], &TAINT_EFFECTS);
}

/// For a map of resource quantities: each value matches [`QUANTITY`] (and is described in
/// one line rather than by `Quantity`'s page-long description).
pub fn quantity_map(schema: &mut Schema) {
    if let Some(values) = schema
        .as_object_mut()
        .and_then(|s| s.get_mut("additionalProperties"))
        .and_then(Value::as_object_mut)
    {
        values.insert("pattern".into(), json!(QUANTITY));
        values.insert(
            "description".into(),
            json!("A resource quantity: an integer or a string such as 500m, 4, 16Gi or 1e3."),
        );
    }
}

/// For conditions: a list keyed by `type` (one condition per type), so that server-side
/// apply merges them per type.
pub fn condition_list(schema: &mut Schema) {
    if let Some(list) = schema.as_object_mut() {
        list.insert("x-kubernetes-list-type".into(), json!("map"));
        list.insert("x-kubernetes-list-map-keys".into(), json!(["type"]));
    }
}

/// For a list of strings where order and repeats mean nothing: a set, so the API server
/// refuses duplicates and server-side apply merges items.
pub fn string_set(schema: &mut Schema) {
    if let Some(list) = schema.as_object_mut() {
        list.insert("x-kubernetes-list-type".into(), json!("set"));
    }
}

/// For an optional field that CEL rules look at: not `nullable`, so the API server prunes
/// an explicit `null` (the field is then absent, as `None` is to the engine) instead of
/// handing the rules a null that `has()` would count as present.
pub fn not_nullable(schema: &mut Schema) {
    if let Some(Value::Array(types)) = schema.as_object_mut().and_then(|s| s.get_mut("type")) {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            schema.insert("type".into(), only);
        }
    }
}
