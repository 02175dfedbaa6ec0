//! The generated CRDs inside a REAL kube-apiserver (v1.20, built by
//! shared/tools/kube-apiserver): every CRD is server-side applied with the field manager
//! `scopegate` and becomes Established (so its schema is structural: a v1 CRD with a
//! non-structural schema is refused); the stored CRDs and the discovery documents show the
//! printer columns, short names, categories and status subresource; every object of
//! examples/policies (the six Scopegate kinds, native RBAC, Namespaces, Nodes) is applied and
//! read back unchanged; the status subresource and the printer columns work; and objects that
//! break a schema rule are refused with 422.
//!
//! v1.20 knows nothing of CEL rules (`x-kubernetes-validations`, enforced from v1.25): its
//! server-side apply refuses the field, so on such a server the test applies the CRDs that
//! `scopegate crd --without-cel-rules` prints, and checks that an object only a CEL rule
//! refuses is accepted there (crd_schema.rs proves the rules themselves).
//!
//! The API server is the project's build of v1.20.2 (`.ci/kube-apiserver/build.sh`): the shared
//! build crashes on the first write of any custom resource (its vendored reflect2 v1.0.1 breaks
//! under Go 1.18+) and refuses `""` in custom-resource arrays; ours vendors the fixed versions,
//! so every step here runs.
//!
//! One API server for the whole file. Set `SCOPEGATE_KAPI=0` to skip (it then passes,
//! saying so).

use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use scopegate_core::model::{Cluster, IamRole, IamRoleBinding, NodeGroup, RoleTemplate, Workspace};
use scopegate_kube::crd;
use scopegate_testkit::{KubeApiServer, kube_apiserver_disabled, repo_root, step};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::{Duration, Instant};

/// The field manager Scopegate applies with.
const MANAGER: &str = "scopegate";

/// Server-side applies `object` as the `scopegate` field manager and returns what the API
/// server stored.
async fn apply<K>(api: &Api<K>, object: &K) -> K
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
{
    scopegate_testkit::apply(api, object, MANAGER).await
}

async fn apply_and_read_back<K>(objects: &[K], api_for: impl Fn(&K) -> Api<K>) -> Vec<(K, K)>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let mut pairs = Vec::new();
    for object in objects {
        let api = api_for(object);
        apply(&api, object).await;
        let stored = api.get(&object.name_any()).await.unwrap();
        // An object that sets nothing but its name (a bare Namespace) gives the manager no
        // field to own.
        let sent = serde_json::to_value(object).unwrap();
        let sets_fields =
            sent.as_object().unwrap().len() > 3 || sent["metadata"].as_object().unwrap().len() > 2;
        assert!(
            !sets_fields
                || stored
                    .meta()
                    .managed_fields
                    .iter()
                    .flatten()
                    .any(|f| f.manager.as_deref() == Some(MANAGER)),
            "{} {} is managed by {MANAGER}: {:?}",
            K::kind(&()),
            object.name_any(),
            stored.meta().managed_fields
        );
        pairs.push((object.clone(), stored));
    }
    pairs
}

/// Waits until the CRD is Established (and its names accepted), and returns it.
async fn established(api: &Api<CustomResourceDefinition>, name: &str) -> CustomResourceDefinition {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let crd = api.get(name).await.unwrap();
        let conditions = crd
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let is_true = |kind: &str| {
            conditions
                .iter()
                .any(|c| c.type_ == kind && c.status == "True")
        };
        assert!(
            !conditions.iter().any(|c| c.type_ == "NonStructuralSchema"),
            "{name}: {conditions:?}"
        );
        if is_true("Established") && is_true("NamesAccepted") {
            return crd;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not Established: {conditions:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates `object` (JSON) through the generic API of `K`'s resource: Ok with the stored
/// object, or Err with the HTTP status and the server's message.
async fn create_raw<K>(client: &Client, object: Value) -> Result<DynamicObject, (u16, String)>
where
    K: Resource<DynamicType = ()>,
{
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ApiResource::erase::<K>(&()));
    let object: DynamicObject = serde_json::from_value(object).unwrap();
    match api.create(&PostParams::default(), &object).await {
        Ok(created) => Ok(created),
        Err(kube::Error::Api(status)) => Err((status.code, status.message)),
        Err(other) => panic!("create: {other}"),
    }
}

/// `GET path` as a Table (what kubectl prints): columns and rows.
async fn table(client: &Client, path: &str) -> Value {
    let request = http::Request::get(path)
        .header(
            http::header::ACCEPT,
            "application/json;as=Table;v=v1;g=meta.k8s.io",
        )
        .body(Vec::new())
        .unwrap();
    let text = client
        .request_text(request)
        .await
        .unwrap_or_else(|e| panic!("GET {path} as a Table: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn column_names(table: &Value) -> Vec<String> {
    table["columnDefinitions"]
        .as_array()
        .expect("columnDefinitions")
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts the API server refused an object with 422 Unprocessable Entity, naming `field`.
fn expect_422(what: &str, result: Result<DynamicObject, (u16, String)>, field: &str) {
    match result {
        Err((422, message)) => {
            // Servers before v1.22 or so leave the list indices out of the path.
            let without_indices = strip_indices(field);
            assert!(
                message.contains(field) || message.contains(&without_indices),
                "{what}: {message} names {field}"
            );
            eprintln!("    refused, {what}: {message}");
        }
        Err((code, message)) => panic!("{what}: {code} {message}, expected 422"),
        Ok(created) => panic!("{what}: accepted as {:?}", created.data),
    }
}

/// `spec.subjects[0].kind` → `spec.subjects.kind`.
fn strip_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => in_index = true,
            ']' => in_index = false,
            _ if !in_index => out.push(c),
            _ => {}
        }
    }
    out
}

fn binding(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "iam.theriseunion.io/v1alpha1",
        "kind": "IAMRoleBinding",
        "metadata": {"name": name},
        "spec": spec,
    })
}

fn valid_binding_spec() -> Value {
    json!({
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}],
        "roleRef": {"apiGroup": "iam.theriseunion.io", "kind": "IAMRole", "name": "workspace-viewer"},
        "scope": {"kind": "Workspace", "name": "team-a"},
    })
}

fn workspace(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "scope.theriseunion.io/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": name},
        "spec": spec,
    })
}

#[test]
fn crds_install_and_serve_the_example_policy_in_a_real_kube_apiserver() {
    if kube_apiserver_disabled("the CRD test") {
        return;
    }
    let started = Instant::now();
    step(
        "kube-apiserver: start.sh with a static admin token",
        started,
    );
    let server = KubeApiServer::start("crds-apply", &[]);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(&server, started));
    step("done; stopping kube-apiserver", started);
}

async fn run(server: &KubeApiServer, started: Instant) {
    let client = server.client().await;
    let version = client.apiserver_version().await.unwrap();
    let minor: u32 = version
        .minor
        .trim_end_matches('+')
        .parse()
        .expect("a numeric minor version");
    let enforces_cel = (version.major.as_str(), minor) >= ("1", 25);
    eprintln!(
        "    API server {} (CEL rules enforced: {enforces_cel})",
        version.git_version
    );

    step(
        "CRDs: server-side apply as `scopegate`, wait for Established",
        started,
    );
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut applied = Vec::new();
    for generated in crd::all() {
        let name = generated.name_any();
        let params = PatchParams::apply(MANAGER).force();
        let sent = match crds.patch(&name, &params, &Patch::Apply(&generated)).await {
            Ok(_) => generated,
            Err(kube::Error::Api(status))
                if !enforces_cel && status.message.contains("x-kubernetes-validations") =>
            {
                eprintln!(
                    "    {name}: refused with its CEL rules ({}), applied without them",
                    status.message
                );
                let stripped = crd::without_cel_rules(generated);
                crds.patch(&name, &params, &Patch::Apply(&stripped))
                    .await
                    .unwrap_or_else(|e| panic!("apply {name} without CEL rules: {e}"));
                stripped
            }
            Err(e) => panic!("apply CRD {name}: {e}"),
        };
        applied.push(sent);
    }
    for sent in &applied {
        let name = sent.name_any();
        let stored = established(&crds, &name).await;
        let (sent_version, stored_version) = (&sent.spec.versions[0], &stored.spec.versions[0]);
        assert!(
            stored_version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{name}: status subresource stored"
        );
        assert_eq!(
            stored_version.additional_printer_columns, sent_version.additional_printer_columns,
            "{name}: printer columns stored as generated"
        );
        // The server fills in listKind; the rest of the names are as generated.
        let mut names = sent.spec.names.clone();
        names.list_kind = Some(format!("{}List", names.kind));
        assert_eq!(stored.spec.names, names, "{name}: names");
        assert_eq!(stored.spec.scope, "Cluster", "{name}");
        assert_eq!(
            stored_version.schema, sent_version.schema,
            "{name}: the schema is stored as sent, nothing dropped"
        );
    }

    step(
        "discovery: short names, categories, status subresources",
        started,
    );
    let mut ours = BTreeSet::new();
    for group_version in [
        "iam.theriseunion.io/v1alpha1",
        "scope.theriseunion.io/v1alpha1",
    ] {
        // Established does not mean discovered: the API server adds a CRD to discovery on
        // its own schedule, so wait (bounded) until every CRD of the group is listed.
        let expected: Vec<&str> = applied
            .iter()
            .filter(|c| group_version.starts_with(&c.spec.group))
            .map(|c| c.spec.names.plural.as_str())
            .collect();
        let waited = Instant::now();
        let resources = loop {
            let resources = client
                .list_api_group_resources(group_version)
                .await
                .unwrap()
                .resources;
            let listed = expected
                .iter()
                .all(|plural| resources.iter().any(|r| r.name == *plural));
            if listed || waited.elapsed() > Duration::from_secs(30) {
                break resources;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let names: BTreeSet<&str> = resources.iter().map(|r| r.name.as_str()).collect();
        for sent in applied
            .iter()
            .filter(|c| group_version.starts_with(&c.spec.group))
        {
            let plural = sent.spec.names.plural.as_str();
            let resource = resources
                .iter()
                .find(|r| r.name == plural)
                .unwrap_or_else(|| panic!("{plural} in the discovery of {group_version}"));
            assert!(!resource.namespaced, "{plural} is cluster-scoped");
            assert_eq!(
                resource.short_names, sent.spec.names.short_names,
                "{plural}"
            );
            assert_eq!(resource.categories, sent.spec.names.categories, "{plural}");
            assert!(
                names.contains(format!("{plural}/status").as_str()),
                "{plural}/status is served"
            );
            ours.extend(resource.short_names.iter().flatten().cloned());
        }
    }
    let mut built_in = BTreeSet::new();
    let mut lists = vec![client.list_core_api_resources("v1").await.unwrap()];
    for group in client.list_api_groups().await.unwrap().groups {
        if group.name.ends_with(".theriseunion.io") {
            continue;
        }
        let version = group
            .preferred_version
            .map(|v| v.group_version)
            .unwrap_or_else(|| group.versions[0].group_version.clone());
        lists.push(client.list_api_group_resources(&version).await.unwrap());
    }
    for list in lists {
        for resource in list.resources {
            built_in.extend(resource.short_names.into_iter().flatten());
        }
    }
    assert!(
        built_in.contains("po") && built_in.contains("ns"),
        "{built_in:?}"
    );
    let clashes: Vec<_> = ours.intersection(&built_in).collect();
    assert!(
        clashes.is_empty(),
        "short names shadowing built-in ones: {clashes:?}"
    );

    step("printer columns: the Table of every (empty) list", started);
    for sent in &applied {
        let path = format!(
            "/apis/{}/v1alpha1/{}",
            sent.spec.group, sent.spec.names.plural
        );
        let table = table(&client, &path).await;
        let mut expected = vec!["Name".to_string()];
        expected.extend(
            sent.spec.versions[0]
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|c| c.name.clone()),
        );
        assert_eq!(column_names(&table), expected, "{path}");
    }

    step(
        "examples/policies: apply every object and read it back",
        started,
    );
    let manifests = scopegate_core::load::load_paths(&[repo_root().join("examples/policies")])
        .expect("the examples load");
    let objects = &manifests.objects;
    assert!(manifests.skipped.is_empty(), "{:?}", manifests.skipped);
    for (loaded, stored) in apply_and_read_back(&objects.namespaces, |_: &Namespace| {
        Api::all(client.clone())
    })
    .await
    {
        for (key, value) in loaded.labels() {
            assert_eq!(
                stored.labels().get(key),
                Some(value),
                "Namespace {}",
                loaded.name_any()
            );
        }
    }
    for (loaded, stored) in
        apply_and_read_back(&objects.nodes, |_: &Node| Api::all(client.clone())).await
    {
        assert_eq!(
            loaded.labels(),
            stored.labels(),
            "Node {}",
            loaded.name_any()
        );
    }
    for (loaded, stored) in apply_and_read_back(&objects.cluster_roles, |_: &ClusterRole| {
        Api::all(client.clone())
    })
    .await
    {
        // An empty list is stored as none.
        assert_eq!(
            loaded.rules.clone().unwrap_or_default(),
            stored.rules.clone().unwrap_or_default(),
            "ClusterRole {}",
            loaded.name_any()
        );
        assert_eq!(loaded.aggregation_rule, stored.aggregation_rule);
    }
    for (loaded, stored) in apply_and_read_back(&objects.roles, |o: &Role| {
        Api::namespaced(client.clone(), o.namespace().as_deref().unwrap())
    })
    .await
    {
        assert_eq!(
            loaded.rules.clone().unwrap_or_default(),
            stored.rules.clone().unwrap_or_default(),
            "Role {}",
            loaded.name_any()
        );
    }
    let who =
        |subjects: &Option<Vec<k8s_openapi::api::rbac::v1::Subject>>| -> Vec<(String, String)> {
            subjects
                .iter()
                .flatten()
                .map(|s| (s.kind.clone(), s.name.clone()))
                .collect()
        };
    for (loaded, stored) in
        apply_and_read_back(&objects.cluster_role_bindings, |_: &ClusterRoleBinding| {
            Api::all(client.clone())
        })
        .await
    {
        assert_eq!(loaded.role_ref, stored.role_ref);
        assert_eq!(who(&loaded.subjects), who(&stored.subjects));
    }
    for (loaded, stored) in apply_and_read_back(&objects.role_bindings, |o: &RoleBinding| {
        Api::namespaced(client.clone(), o.namespace().as_deref().unwrap())
    })
    .await
    {
        assert_eq!(loaded.role_ref, stored.role_ref);
        assert_eq!(who(&loaded.subjects), who(&stored.subjects));
    }
    for (loaded, stored) in apply_and_read_back(&objects.role_templates, |_: &RoleTemplate| {
        Api::all(client.clone())
    })
    .await
    {
        assert_eq!(
            loaded.spec,
            stored.spec,
            "RoleTemplate {}",
            loaded.name_any()
        );
    }
    for (loaded, stored) in
        apply_and_read_back(&objects.iam_roles, |_: &IamRole| Api::all(client.clone())).await
    {
        assert_eq!(loaded.spec, stored.spec, "IAMRole {}", loaded.name_any());
    }
    for (loaded, stored) in apply_and_read_back(&objects.iam_role_bindings, |_: &IamRoleBinding| {
        Api::all(client.clone())
    })
    .await
    {
        assert_eq!(
            loaded.spec,
            stored.spec,
            "IAMRoleBinding {}",
            loaded.name_any()
        );
    }
    for (loaded, stored) in
        apply_and_read_back(&objects.clusters, |_: &Cluster| Api::all(client.clone())).await
    {
        assert_eq!(loaded.spec, stored.spec, "Cluster {}", loaded.name_any());
    }
    for (loaded, stored) in apply_and_read_back(&objects.workspaces, |_: &Workspace| {
        Api::all(client.clone())
    })
    .await
    {
        let mut expected = loaded.spec.clone();
        // The schema's default, filled in by the API server.
        expected.network_isolation.get_or_insert(true);
        assert_eq!(expected, stored.spec, "Workspace {}", loaded.name_any());
    }
    for (loaded, stored) in apply_and_read_back(&objects.node_groups, |_: &NodeGroup| {
        Api::all(client.clone())
    })
    .await
    {
        assert_eq!(loaded.spec, stored.spec, "NodeGroup {}", loaded.name_any());
    }
    eprintln!("    {} objects applied and read back", objects.len());

    step(
        "a Workspace without networkIsolation gets the default true",
        started,
    );
    let created = create_raw::<Workspace>(&client, workspace("defaulted", json!({})))
        .await
        .expect("an empty Workspace spec is valid");
    assert_eq!(
        created.data["spec"]["networkIsolation"], true,
        "{:?}",
        created.data
    );

    step(
        "status subresource: a Ready condition and a native object count, and their printer columns",
        started,
    );
    let bindings: Api<IamRoleBinding> = Api::all(client.clone());
    let first = &objects.iam_role_bindings[0];
    let name = first.name_any();
    let before = bindings.get(&name).await.unwrap();
    let status_patch = json!({
        "apiVersion": "iam.theriseunion.io/v1alpha1",
        "kind": "IAMRoleBinding",
        // Ignored: through /status only the status changes.
        "spec": {"scope": {"kind": "Platform"}},
        "status": {
            "observedGeneration": before.metadata.generation,
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "Granted",
                "message": "the role is granted at the scope",
                "lastTransitionTime": "2024-01-01T00:00:00Z",
            }],
            "nativeObjects": 3,
        },
    });
    bindings
        .patch_status(
            &name,
            &PatchParams::apply("scopegate-status").force(),
            &Patch::Apply(&status_patch),
        )
        .await
        .unwrap();
    let after = bindings.get(&name).await.unwrap();
    assert_eq!(after.spec, before.spec, "/status does not change the spec");
    let status = after.status.clone().expect("a status");
    assert_eq!(status.observed_generation, before.metadata.generation);
    assert_eq!(status.native_objects, Some(3));
    let ready = &status.conditions[0];
    assert_eq!(
        (
            ready.type_.as_str(),
            ready.status.as_str(),
            ready.reason.as_str()
        ),
        ("Ready", "True", "Granted")
    );
    // And the main resource does not take a status: a re-apply leaves it alone.
    apply(&bindings, first).await;
    assert_eq!(bindings.get(&name).await.unwrap().status, Some(status));

    let table = table(
        &client,
        &format!("/apis/iam.theriseunion.io/v1alpha1/iamrolebindings/{name}"),
    )
    .await;
    let columns = column_names(&table);
    assert_eq!(
        columns,
        [
            "Name",
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
    let cells = table["rows"][0]["cells"].as_array().unwrap();
    assert_eq!(cells[0], name.as_str());
    assert_eq!(cells[1], first.spec.role_ref.name.as_str());
    assert_eq!(cells[2], first.spec.scope.kind.as_str());
    assert_eq!(cells[6], "True", "the Ready column: {cells:?}");
    assert_eq!(cells[7], 3, "the Native column: {cells:?}");

    step(
        "schema rules the server enforces: 422 for each broken object",
        started,
    );
    let mut spec = valid_binding_spec();
    spec["scope"]["kind"] = json!("Workspce");
    expect_422(
        "scope.kind: Workspce",
        create_raw::<IamRoleBinding>(&client, binding("typo-kind", spec)).await,
        "spec.scope.kind",
    );
    let mut spec = valid_binding_spec();
    spec["roleRef"]["kind"] = json!("ClusterRole");
    expect_422(
        "roleRef.kind: ClusterRole",
        create_raw::<IamRoleBinding>(&client, binding("cluster-role-ref", spec)).await,
        "spec.roleRef.kind",
    );
    let mut spec = valid_binding_spec();
    spec["roleRef"]["apiGroup"] = json!("rbac.authorization.k8s.io");
    expect_422(
        "roleRef.apiGroup: rbac.authorization.k8s.io",
        create_raw::<IamRoleBinding>(&client, binding("rbac-role-ref", spec)).await,
        "spec.roleRef.apiGroup",
    );
    let mut spec = valid_binding_spec();
    spec["roleRef"]["name"] = json!("Not_A_Name");
    expect_422(
        "roleRef.name: Not_A_Name",
        create_raw::<IamRoleBinding>(&client, binding("bad-role-name", spec)).await,
        "spec.roleRef.name",
    );
    let mut spec = valid_binding_spec();
    spec["subjects"][0]["kind"] = json!("Robot");
    expect_422(
        "subjects[0].kind: Robot",
        create_raw::<IamRoleBinding>(&client, binding("robot", spec)).await,
        "spec.subjects[0].kind",
    );
    let mut spec = valid_binding_spec();
    spec.as_object_mut().unwrap().remove("subjects");
    expect_422(
        "no subjects",
        create_raw::<IamRoleBinding>(&client, binding("no-subjects", spec)).await,
        "spec.subjects",
    );
    let mut spec = valid_binding_spec();
    spec["scope"] = json!({"kind": "Resource", "namespace": "team-a-dev", "apiGroup": "", "resource": "pods/log", "name": "web"});
    expect_422(
        "scope.resource: pods/log",
        create_raw::<IamRoleBinding>(&client, binding("subresource-scope", spec)).await,
        "spec.scope.resource",
    );
    let mut spec = valid_binding_spec();
    spec["scope"] =
        json!({"kind": "Resource", "namespace": "Team_A", "resource": "pods", "name": "web"});
    expect_422(
        "scope.namespace: Team_A",
        create_raw::<IamRoleBinding>(&client, binding("bad-namespace", spec)).await,
        "spec.scope.namespace",
    );
    expect_422(
        "IAMRole scope: Tenant",
        create_raw::<IamRole>(
            &client,
            json!({
                "apiVersion": "iam.theriseunion.io/v1alpha1",
                "kind": "IAMRole",
                "metadata": {"name": "tenant-role"},
                "spec": {"scope": "Tenant"},
            }),
        )
        .await,
        "spec.scope",
    );
    expect_422(
        "Workspace namespaces: [Team_A]",
        create_raw::<Workspace>(
            &client,
            workspace("bad-ns", json!({"namespaces": ["Team_A"]})),
        )
        .await,
        "spec.namespaces[0]",
    );
    expect_422(
        "Workspace namespaces: [a, a]",
        create_raw::<Workspace>(
            &client,
            workspace("dup-ns", json!({"namespaces": ["a", "a"]})),
        )
        .await,
        "spec.namespaces[1]",
    );
    expect_422(
        "Workspace quota.cpu: lots",
        create_raw::<Workspace>(
            &client,
            workspace("bad-quota", json!({"quota": {"cpu": "lots"}})),
        )
        .await,
        "spec.quota.cpu",
    );
    expect_422(
        "NodeGroup taint effect: Sometimes",
        create_raw::<NodeGroup>(
            &client,
            json!({
                "apiVersion": "scope.theriseunion.io/v1alpha1",
                "kind": "NodeGroup",
                "metadata": {"name": "bad-taint"},
                "spec": {"taints": [{"key": "k", "effect": "Sometimes"}]},
            }),
        )
        .await,
        "spec.taints[0].effect",
    );
    expect_422(
        "NodeGroup selector operator: Equals",
        create_raw::<NodeGroup>(
            &client,
            json!({
                "apiVersion": "scope.theriseunion.io/v1alpha1",
                "kind": "NodeGroup",
                "metadata": {"name": "bad-selector"},
                "spec": {"nodeSelector": {"matchExpressions": [{"key": "k", "operator": "Equals", "values": ["v"]}]}},
            }),
        )
        .await,
        "spec.nodeSelector.matchExpressions[0].operator",
    );
    // A quantity given as a number is fine (int-or-string).
    create_raw::<Workspace>(
        &client,
        workspace("int-quota", json!({"quota": {"pods": 10}})),
    )
    .await
    .expect("an integer quantity is accepted");

    step(
        "a rule only CEL states: enforced from v1.25, accepted here before",
        started,
    );
    let mut spec = valid_binding_spec();
    spec["scope"] = json!({"kind": "Namespace"});
    let result =
        create_raw::<IamRoleBinding>(&client, binding("namespace-without-name", spec)).await;
    if enforces_cel {
        match result {
            Err((422, message)) => assert!(
                message.contains("name is required unless kind is Platform"),
                "{message}"
            ),
            other => panic!("a Namespace scope without a name: {other:?}"),
        }
    } else {
        result.expect("v1.20 does not enforce CEL rules");
        eprintln!(
            "    accepted (CEL not enforced by {}); the engine reports it as an error",
            version.git_version
        );
    }
}
