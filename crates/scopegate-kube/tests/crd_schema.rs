//! The generated CRDs, checked offline: their shape (scope, version, status subresource,
//! printer columns, short names, categories), where their validation sits, and what it
//! accepts. The CEL rules are evaluated with kube-cel (the CEL dialect and Kubernetes
//! functions API servers use), and must agree with the engine's own check of a scope,
//! `Scope::from_spec`, on every combination of fields; the v1.20 test server ignores CEL, so
//! this is where the rules are proved. The patterns are run on valid and invalid names.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube_cel::{ScopeContext, Validator, WarningKind, analyze_rule, compile_schema};
use regex::Regex;
use scopegate_core::model::schema::{
    API_GROUP, DNS1123_LABEL, DNS1123_LABEL_OR_EMPTY, DNS1123_SUBDOMAIN, QUANTITY, RESOURCE_NAME,
};
use scopegate_core::model::{Scope, ScopeKind, ScopeSpec};
use scopegate_kube::crd;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;

fn crd_named(name: &str) -> CustomResourceDefinition {
    crd::all()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no CRD {name}"))
}

/// The openAPIV3Schema of a CRD's only version, as JSON.
fn schema(crd: &CustomResourceDefinition) -> Value {
    serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap()
}

/// The schema at a dotted path of property names (`items` steps into array items).
fn at<'a>(schema: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(schema, |here, step| {
        let next = if step == "items" {
            &here["items"]
        } else {
            &here["properties"][step]
        };
        assert!(!next.is_null(), "no {step} on the way to {path}");
        next
    })
}

/// Every `x-kubernetes-validations` in a schema, by dotted path.
fn cel_rules(schema: &Value, path: &str, found: &mut Vec<(String, Value)>) {
    if let Some(rules) = schema.get("x-kubernetes-validations") {
        found.push((path.to_string(), rules.clone()));
    }
    let join = |step: &str| {
        if path.is_empty() {
            step.to_string()
        } else {
            format!("{path}.{step}")
        }
    };
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (name, property) in properties {
            cel_rules(property, &join(name), found);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = schema.get(key).filter(|c| c.is_object()) {
            cel_rules(child, &join(key), found);
        }
    }
}

/// Short names of resources Kubernetes serves itself (kubectl's well-known ones); ours must
/// not shadow them. The test against a real API server also checks its discovery documents.
const BUILT_IN_SHORT_NAMES: &[&str] = &[
    "cm", "cs", "csr", "cj", "crd", "crds", "ds", "deploy", "ep", "ev", "hpa", "ing", "limits",
    "netpol", "no", "ns", "pc", "pdb", "po", "psp", "pv", "pvc", "quota", "rc", "rs", "sa", "sc",
    "sts", "svc",
];

#[test]
fn every_crd_is_cluster_scoped_v1alpha1_with_a_status_subresource() {
    let crds = crd::all();
    let kinds: Vec<&str> = crds.iter().map(|c| c.spec.names.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "RoleTemplate",
            "IAMRole",
            "IAMRoleBinding",
            "Cluster",
            "Workspace",
            "NodeGroup"
        ]
    );
    for crd in &crds {
        let name = crd.metadata.name.as_deref().unwrap();
        assert_eq!(crd.spec.scope, "Cluster", "{name}");
        assert_eq!(crd.spec.versions.len(), 1, "{name}");
        let version = &crd.spec.versions[0];
        assert_eq!(
            (version.name.as_str(), version.served, version.storage),
            ("v1alpha1", true, true),
            "{name}"
        );
        let subresources = version.subresources.as_ref().expect("subresources");
        assert!(subresources.status.is_some(), "{name}: status subresource");
        assert!(subresources.scale.is_none(), "{name}: no scale subresource");
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["scopegate".to_string()][..]),
            "{name}"
        );
        let expected_group = match crd.spec.names.kind.as_str() {
            "RoleTemplate" | "IAMRole" | "IAMRoleBinding" => "iam.theriseunion.io",
            _ => "scope.theriseunion.io",
        };
        assert_eq!(crd.spec.group, expected_group);
        // The description is the kind's own, not the derive's placeholder.
        let description = schema(crd)["description"].as_str().unwrap().to_string();
        assert!(
            !description.contains("Auto-generated"),
            "{name}: {description}"
        );
    }
}

#[test]
fn short_names_are_unique_and_do_not_shadow_built_in_resources() {
    let mut seen = BTreeSet::new();
    for crd in crd::all() {
        let short_names = crd.spec.names.short_names.clone().unwrap_or_default();
        assert!(
            !short_names.is_empty(),
            "{:?} has a short name",
            crd.metadata.name
        );
        for short in short_names {
            assert!(
                !BUILT_IN_SHORT_NAMES.contains(&short.as_str()),
                "{short} is a built-in short name"
            );
            assert!(seen.insert(short.clone()), "{short} is used twice");
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["iamrb", "iamrole", "ng", "rtpl", "sgcluster", "ws"]
    );
}

#[test]
fn printer_columns_show_ready_native_objects_and_age_and_point_at_real_fields() {
    for crd in crd::all() {
        let name = crd.metadata.name.clone().unwrap();
        let columns = crd.spec.versions[0]
            .additional_printer_columns
            .clone()
            .unwrap_or_default();
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        // IAMRoles and IAMRoleBindings also show how many native RBAC objects they keep.
        let materialised = [
            "iamroles.iam.theriseunion.io",
            "iamrolebindings.iam.theriseunion.io",
        ]
        .contains(&name.as_str());
        let last: &[&str] = if materialised {
            &["Ready", "Native", "Age"]
        } else {
            &["Ready", "Age"]
        };
        assert_eq!(&names[names.len() - last.len()..], last, "{name}");
        let schema = schema(&crd);
        for column in &columns {
            assert!(
                ["string", "boolean", "integer", "number", "date"].contains(&column.type_.as_str()),
                "{name}: {}",
                column.name
            );
            let path = column.json_path.trim_start_matches('.');
            if path == "metadata.creationTimestamp" {
                continue;
            }
            // `.status.conditions[?(@.type=="Ready")].status` walks conditions' items.
            let path = path.replace("conditions[?(@.type==\"Ready\")]", "conditions.items");
            let field = at(&schema, &path);
            assert!(field.get("type").is_some(), "{name}: {path} has a type");
        }
        let ready = columns.iter().find(|c| c.name == "Ready").unwrap();
        assert_eq!(
            ready.json_path,
            ".status.conditions[?(@.type==\"Ready\")].status"
        );
    }
    let bindings = crd_named("iamrolebindings.iam.theriseunion.io");
    let names: Vec<String> = bindings.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(
        names,
        [
            "Role",
            "Scope",
            "Target",
            "Namespace",
            "Resource",
            "Ready",
            "Native",
            "Age"
        ]
    );
    let native = bindings.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .find(|c| c.name == "Native")
        .unwrap();
    assert_eq!(
        (native.type_.as_str(), native.json_path.as_str()),
        ("integer", ".status.nativeObjects")
    );
}

#[test]
fn status_has_ready_style_conditions_keyed_by_type_and_an_observed_generation() {
    for crd in crd::all() {
        let schema = schema(&crd);
        let status = at(&schema, "status");
        let conditions = at(status, "conditions");
        assert_eq!(conditions["x-kubernetes-list-type"], "map");
        assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
        let required: BTreeSet<&str> = conditions["items"]["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for field in ["type", "status", "reason", "message", "lastTransitionTime"] {
            assert!(required.contains(field), "{field}");
        }
        assert_eq!(at(status, "observedGeneration")["type"], "integer");
        assert_eq!(at(status, "observedGeneration")["format"], "int64");
    }
}

#[test]
fn required_fields_and_enums_are_in_the_schema() {
    let required = |schema: &Value, path: &str| -> Vec<String> {
        let node = if path.is_empty() {
            schema
        } else {
            at(schema, path)
        };
        node["required"]
            .as_array()
            .map(|r| r.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let bindings = schema(&crd_named("iamrolebindings.iam.theriseunion.io"));
    assert_eq!(required(&bindings, ""), ["spec"]);
    assert_eq!(
        required(&bindings, "spec"),
        ["roleRef", "scope", "subjects"]
    );
    assert_eq!(required(&bindings, "spec.roleRef"), ["kind", "name"]);
    assert_eq!(required(&bindings, "spec.scope"), ["kind"]);
    assert_eq!(
        at(&bindings, "spec.roleRef.kind")["enum"],
        json!(["IAMRole"])
    );
    let kinds: Vec<&str> = ScopeKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(at(&bindings, "spec.scope.kind")["enum"], json!(kinds));
    assert_eq!(
        at(&bindings, "spec.subjects.items.kind")["enum"],
        json!(["User", "Group", "ServiceAccount"])
    );

    let roles = schema(&crd_named("iamroles.iam.theriseunion.io"));
    assert_eq!(required(&roles, "spec"), ["scope"]);
    assert_eq!(at(&roles, "spec.scope")["enum"], json!(kinds));
    assert_eq!(
        at(
            &roles,
            "spec.templateSelector.matchExpressions.items.operator"
        )["enum"],
        json!(["In", "NotIn", "Exists", "DoesNotExist"])
    );
    assert_eq!(
        at(&roles, "spec.roleTemplates")["x-kubernetes-list-type"],
        "set"
    );

    let workspaces = schema(&crd_named("workspaces.scope.theriseunion.io"));
    assert_eq!(at(&workspaces, "spec.networkIsolation")["default"], true);
    assert_eq!(
        at(&workspaces, "spec.namespaces")["x-kubernetes-list-type"],
        "set"
    );
    for map in ["spec.quota", "spec.namespaceQuota"] {
        let values = &at(&workspaces, map)["additionalProperties"];
        assert_eq!(values["x-kubernetes-int-or-string"], true, "{map}");
        assert_eq!(values["pattern"], QUANTITY, "{map}");
    }

    let node_groups = schema(&crd_named("nodegroups.scope.theriseunion.io"));
    assert_eq!(
        at(&node_groups, "spec.taints.items.effect")["enum"],
        json!(["NoSchedule", "PreferNoSchedule", "NoExecute"])
    );
    assert_eq!(
        at(&node_groups, "spec.owners.items.kind")["enum"],
        json!(["User", "Group", "ServiceAccount"])
    );
}

#[test]
fn the_cel_rules_sit_on_the_binding_scope_and_nowhere_else() {
    let mut found = Vec::new();
    for crd in crd::all() {
        let mut here = Vec::new();
        cel_rules(&schema(&crd), "", &mut here);
        found.extend(
            here.into_iter()
                .map(|(path, rules)| (format!("{}: {path}", crd.spec.names.kind), rules)),
        );
    }
    let expected: Vec<Value> = ScopeSpec::CEL_RULES
        .iter()
        .map(|(rule, message)| json!({"rule": rule, "message": message}))
        .collect();
    assert_eq!(
        found,
        [(
            "IAMRoleBinding: spec.scope".to_string(),
            Value::Array(expected)
        )]
    );
    // The fields the rules read are not nullable: the API server prunes an explicit null, so
    // `has()` sees what the engine sees (an absent field).
    let bindings = schema(&crd_named("iamrolebindings.iam.theriseunion.io"));
    for field in ["name", "namespace", "apiGroup", "resource"] {
        let property = at(&bindings, &format!("spec.scope.{field}"));
        assert_eq!(property["type"], "string", "{field}");
        assert!(
            property.get("nullable").is_none(),
            "{field} is not nullable"
        );
    }
}

#[test]
fn the_cel_rules_compile_and_fit_the_cost_budget() {
    let schema = schema(&crd_named("iamrolebindings.iam.theriseunion.io"));
    let compiled = compile_schema(&schema);
    let scope = &compiled.properties["spec"].properties["scope"];
    assert_eq!(scope.validations.len(), ScopeSpec::CEL_RULES.len());
    assert!(!scope.has_errors(), "{:?}", scope.compilation_errors());
    for (rule, _) in ScopeSpec::CEL_RULES {
        let warnings = analyze_rule(rule, scope, ScopeContext::CrdValidation);
        let serious: Vec<_> = warnings
            .iter()
            .filter(|w| matches!(w.kind, WarningKind::WrongScope | WarningKind::CostExceeded))
            .collect();
        assert!(serious.is_empty(), "{rule}: {serious:?}");
    }
}

/// An IAMRoleBinding object with the given scope.
fn binding_with_scope(scope: Value) -> Value {
    json!({
        "apiVersion": "iam.theriseunion.io/v1alpha1",
        "kind": "IAMRoleBinding",
        "metadata": {"name": "b"},
        "spec": {
            "subjects": [{"kind": "User", "name": "alice"}],
            "roleRef": {"kind": "IAMRole", "name": "r"},
            "scope": scope,
        }
    })
}

/// The messages of the CEL rules the object fails, sorted.
fn cel_failures(
    validator: &Validator,
    compiled: &kube_cel::CompiledSchema,
    object: &Value,
) -> Vec<String> {
    match validator.validate_compiled(compiled, object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => {
            let mut messages: Vec<String> = errors
                .iter()
                .map(|e| {
                    assert_eq!(
                        e.kind,
                        kube_cel::ErrorKind::ValidationFailure,
                        "the rule ran and said no: {e:?}"
                    );
                    e.message.clone()
                })
                .collect();
            messages.sort();
            messages
        }
    }
}

#[test]
fn the_cel_rules_refuse_what_the_engine_refuses_on_every_combination() {
    let schema = schema(&crd_named("iamrolebindings.iam.theriseunion.io"));
    let compiled = compile_schema(&schema);
    let validator = Validator::new();
    // Absent, empty and set, for every field a rule reads.
    let names = [None, Some(""), Some("x")];
    let namespaces = [None, Some(""), Some("team-a-dev")];
    let groups = [None, Some(""), Some("apps")];
    let resources = [None, Some(""), Some("pods")];
    let mut cases = 0;
    let mut refused = 0;
    for kind in ScopeKind::ALL {
        for name in names {
            for namespace in namespaces {
                for api_group in groups {
                    for resource in resources {
                        let spec = ScopeSpec {
                            kind,
                            name: name.map(String::from),
                            namespace: namespace.map(String::from),
                            api_group: api_group.map(String::from),
                            resource: resource.map(String::from),
                        };
                        let object = binding_with_scope(serde_json::to_value(&spec).unwrap());
                        let failures = cel_failures(&validator, &compiled, &object);
                        let engine = Scope::from_spec(&spec);
                        assert_eq!(
                            failures.is_empty(),
                            engine.is_ok(),
                            "{spec:?}: CEL says {failures:?}, the engine says {engine:?}"
                        );
                        cases += 1;
                        refused += usize::from(!failures.is_empty());
                    }
                }
            }
        }
    }
    assert_eq!(cases, 7 * 81);
    assert!(refused > 0 && refused < cases, "{refused} of {cases}");
}

#[test]
fn each_cel_rule_says_what_is_wrong() {
    let schema = schema(&crd_named("iamrolebindings.iam.theriseunion.io"));
    let compiled = compile_schema(&schema);
    let validator = Validator::new();
    let check = |scope: Value, expected: &[&str]| {
        let failures = cel_failures(&validator, &compiled, &binding_with_scope(scope.clone()));
        assert_eq!(failures, expected, "{scope}");
    };
    check(json!({"kind": "Platform"}), &[]);
    check(json!({"kind": "Platform", "name": ""}), &[]);
    check(json!({"kind": "Workspace", "name": "team-a"}), &[]);
    check(
        json!({"kind": "Resource", "namespace": "", "apiGroup": "", "resource": "nodes", "name": "n1"}),
        &[],
    );
    check(
        json!({"kind": "Namespace"}),
        &["name is required unless kind is Platform"],
    );
    check(
        json!({"kind": "Node", "name": ""}),
        &["name is required unless kind is Platform"],
    );
    check(
        json!({"kind": "Platform", "name": "everything"}),
        &["name must be empty for a Platform scope"],
    );
    check(
        json!({"kind": "Namespace", "name": "team-a-dev", "namespace": "team-a-dev"}),
        &["namespace, apiGroup and resource are only allowed for a Resource scope"],
    );
    check(
        json!({"kind": "Cluster", "name": "default", "apiGroup": "apps"}),
        &["namespace, apiGroup and resource are only allowed for a Resource scope"],
    );
    check(
        json!({"kind": "Resource", "name": "web", "namespace": "team-a-dev"}),
        &["resource is required for a Resource scope"],
    );
    check(
        json!({"kind": "Resource", "resource": "pods"}),
        &["name is required unless kind is Platform"],
    );
}

#[test]
fn every_example_binding_passes_the_cel_rules() {
    let schema = schema(&crd_named("iamrolebindings.iam.theriseunion.io"));
    let compiled = compile_schema(&schema);
    let validator = Validator::new();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
    let manifests = scopegate_core::load::load_paths(&[examples]).unwrap();
    assert!(!manifests.objects.iam_role_bindings.is_empty());
    for binding in &manifests.objects.iam_role_bindings {
        let object = serde_json::to_value(binding).unwrap();
        let failures = cel_failures(&validator, &compiled, &object);
        assert!(
            failures.is_empty(),
            "{:?}: {failures:?}",
            binding.metadata.name
        );
    }
}

/// Whether a schema pattern matches the whole value, as the API server's (RE2) regexp does.
fn matches(pattern: &str, value: &str) -> bool {
    Regex::new(pattern).unwrap().is_match(value)
}

#[test]
fn name_patterns_take_every_valid_kubernetes_name_and_refuse_invalid_ones() {
    let long_label = "a".repeat(63);
    for valid in [
        "a",
        "team-a-dev",
        "0",
        "kube-system",
        long_label.as_str(),
        "a1-b2",
    ] {
        assert!(matches(DNS1123_LABEL, valid), "{valid}");
        assert!(matches(DNS1123_LABEL_OR_EMPTY, valid), "{valid}");
        assert!(matches(DNS1123_SUBDOMAIN, valid), "{valid}");
    }
    for invalid in ["", "Team-A", "-a", "a-", "a_b", "a.b", "a b"] {
        assert!(!matches(DNS1123_LABEL, invalid), "{invalid:?}");
    }
    assert!(matches(DNS1123_LABEL_OR_EMPTY, ""));
    for valid in ["workspace-admin", "ns.viewer", "a.b-c.d", "v1.2"] {
        assert!(matches(DNS1123_SUBDOMAIN, valid), "{valid}");
    }
    for invalid in ["", "Admin", "a..b", ".a", "a.", "system:admin", "a/b"] {
        assert!(!matches(DNS1123_SUBDOMAIN, invalid), "{invalid:?}");
    }
    for valid in [
        "",
        "apps",
        "rbac.authorization.k8s.io",
        "scope.theriseunion.io",
    ] {
        assert!(matches(API_GROUP, valid), "{valid:?}");
    }
    for invalid in ["*", "Apps", "apps/v1"] {
        assert!(!matches(API_GROUP, invalid), "{invalid:?}");
    }
    for valid in ["", "pods", "persistentvolumeclaims", "iamrolebindings"] {
        assert!(matches(RESOURCE_NAME, valid), "{valid:?}");
    }
    for invalid in ["*", "pods/log", "*/scale"] {
        assert!(!matches(RESOURCE_NAME, invalid), "{invalid:?}");
    }
    for valid in ["1", "500m", "16Gi", "1.5", "1e3", "+4", "0.5Ki", ".5"] {
        assert!(matches(QUANTITY, valid), "{valid}");
    }
    for invalid in ["", "lots", "4 cores", "1GB", "Gi"] {
        assert!(!matches(QUANTITY, invalid), "{invalid:?}");
    }
}

#[test]
fn every_example_object_fits_the_patterns() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
    let objects = scopegate_core::load::load_paths(&[examples])
        .unwrap()
        .objects;
    for workspace in &objects.workspaces {
        for namespace in &workspace.spec.namespaces {
            assert!(matches(DNS1123_LABEL, namespace), "{namespace}");
        }
        for quantity in workspace
            .spec
            .quota
            .values()
            .chain(workspace.spec.namespace_quota.values())
        {
            assert!(matches(QUANTITY, &quantity.0), "{}", quantity.0);
        }
    }
    for role in &objects.iam_roles {
        for template in &role.spec.role_templates {
            assert!(matches(DNS1123_SUBDOMAIN, template), "{template}");
        }
    }
    for binding in &objects.iam_role_bindings {
        assert!(matches(DNS1123_SUBDOMAIN, &binding.spec.role_ref.name));
    }
}

#[test]
fn without_cel_rules_removes_the_rules_and_nothing_else() {
    for original in crd::all() {
        let stripped = crd::without_cel_rules(original.clone());
        let mut rules = Vec::new();
        cel_rules(&schema(&stripped), "", &mut rules);
        assert!(rules.is_empty());
        // Put the rules back by hand: the rest is unchanged.
        let mut original_schema = schema(&original);
        remove_rules(&mut original_schema);
        assert_eq!(schema(&stripped), original_schema);
        assert_eq!(stripped.spec.names, original.spec.names);
        assert_eq!(
            stripped.spec.versions[0].additional_printer_columns,
            original.spec.versions[0].additional_printer_columns
        );
    }
}

fn remove_rules(value: &mut Value) {
    if let Value::Object(map) = value {
        map.remove("x-kubernetes-validations");
        map.values_mut().for_each(remove_rules);
    }
}
