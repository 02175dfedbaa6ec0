//! The watch side without a cluster: made-up watcher events through a [`KindFeed`] and
//! [`run_kind`].

use super::*;
use futures::stream::{self, BoxStream};
use serde_json::json;

fn dynamic(value: serde_json::Value) -> DynamicObject {
    serde_json::from_value(value).expect("a DynamicObject")
}

fn namespace(name: &str, workspace: &str) -> DynamicObject {
    dynamic(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {"scope.theriseunion.io/workspace": workspace},
                     "resourceVersion": "7"},
        "status": {"phase": "Active"},
    }))
}

fn binding(name: &str, scope_kind: &str) -> DynamicObject {
    dynamic(json!({
        "apiVersion": "iam.theriseunion.io/v1alpha1", "kind": "IAMRoleBinding",
        "metadata": {"name": name},
        "spec": {
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}],
            "roleRef": {"apiGroup": "iam.theriseunion.io", "kind": "IAMRole", "name": "viewer"},
            "scope": {"kind": scope_kind, "name": "team-a"},
        },
    }))
}

fn names(update: &WatchUpdate) -> Vec<String> {
    match update {
        WatchUpdate::Listed { objects, .. } => {
            objects.iter().map(|o| o.object_ref().name).collect()
        }
        other => panic!("expected a Listed update, got {other:?}"),
    }
}

#[test]
fn a_list_is_handed_over_whole_when_it_completes() {
    let mut feed = KindFeed::new(ObjectKind::Namespace);
    assert!(feed.on_event(Event::Init).is_empty());
    assert!(
        feed.on_event(Event::InitApply(namespace("a", "w")))
            .is_empty()
    );
    assert!(
        feed.on_event(Event::InitApply(namespace("b", "w")))
            .is_empty()
    );
    let done = feed.on_event(Event::InitDone);
    assert_eq!(done.len(), 1);
    assert_eq!(names(&done[0]), ["a", "b"]);
}

#[test]
fn an_empty_list_is_a_list_of_nothing() {
    let mut feed = KindFeed::new(ObjectKind::Node);
    feed.on_event(Event::Init);
    assert_eq!(
        feed.on_event(Event::InitDone),
        [WatchUpdate::Listed {
            kind: ObjectKind::Node,
            objects: Vec::new()
        }]
    );
}

#[test]
fn a_list_end_without_a_beginning_deletes_nothing() {
    let mut feed = KindFeed::new(ObjectKind::Namespace);
    assert!(feed.on_event(Event::InitDone).is_empty());
}

#[test]
fn an_error_drops_the_list_in_progress() {
    let mut feed = KindFeed::new(ObjectKind::Namespace);
    feed.on_event(Event::Init);
    feed.on_event(Event::InitApply(namespace("a", "w")));
    let failed = feed.on_error(&"connection refused");
    assert_eq!(
        failed,
        WatchUpdate::Failed {
            kind: ObjectKind::Namespace,
            error: "connection refused".into()
        }
    );
    feed.on_event(Event::Init);
    feed.on_event(Event::InitApply(namespace("b", "w")));
    assert_eq!(names(&feed.on_event(Event::InitDone)[0]), ["b"]);
}

#[test]
fn changes_and_deletes_pass_through() {
    let mut feed = KindFeed::new(ObjectKind::Namespace);
    let applied = feed.on_event(Event::Apply(namespace("a", "w")));
    assert!(matches!(&applied[..], [WatchUpdate::Applied(object)]
        if object.object_ref() == ObjectRef::cluster_scoped(ObjectKind::Namespace, "a")));
    assert_eq!(
        feed.on_event(Event::Delete(namespace("a", "w"))),
        [WatchUpdate::Deleted(ObjectRef::cluster_scoped(
            ObjectKind::Namespace,
            "a"
        ))]
    );
}

#[test]
fn an_unreadable_object_is_skipped_in_a_list_and_the_rest_is_listed() {
    let mut feed = KindFeed::new(ObjectKind::IamRoleBinding);
    feed.on_event(Event::Init);
    feed.on_event(Event::InitApply(binding("good", "Workspace")));
    let skipped = feed.on_event(Event::InitApply(binding("bad", "Tenant")));
    match &skipped[..] {
        [WatchUpdate::Unreadable { object, error }] => {
            assert_eq!(object.name, "bad");
            assert!(error.contains("spec.scope.kind"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(names(&feed.on_event(Event::InitDone)[0]), ["good"]);
}

#[test]
fn a_change_into_something_unreadable_takes_the_object_out() {
    let mut feed = KindFeed::new(ObjectKind::IamRoleBinding);
    let updates = feed.on_event(Event::Apply(binding("b", "Tenant")));
    let reference = ObjectRef::cluster_scoped(ObjectKind::IamRoleBinding, "b");
    assert!(
        matches!(&updates[..], [WatchUpdate::Unreadable { object, .. }, WatchUpdate::Deleted(deleted)]
            if *object == reference && *deleted == reference),
        "{updates:?}"
    );
}

#[test]
fn what_the_policy_does_not_read_is_dropped() {
    let node = |version: &str, ready: &str| {
        dynamic(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": "gpu-1", "resourceVersion": version,
                "labels": {"scope.theriseunion.io/nodegroup": "gpu"},
                "annotations": {LAST_APPLIED: "{...}"},
                "managedFields": [{"manager": "kubelet", "operation": "Update"}],
            },
            "spec": {"podCIDR": "10.0.0.0/24"},
            "status": {"conditions": [{"type": "Ready", "status": ready}]},
        }))
    };
    let first = decode(ObjectKind::Node, node("1", "True")).unwrap();
    let heartbeat = decode(ObjectKind::Node, node("2", "False")).unwrap();
    assert_eq!(
        first, heartbeat,
        "a heartbeat changes nothing the policy reads"
    );
    let meta = first.metadata();
    assert_eq!(meta.name.as_deref(), Some("gpu-1"));
    assert_eq!(
        meta.labels
            .as_ref()
            .and_then(|l| l.get("scope.theriseunion.io/nodegroup")),
        Some(&"gpu".to_string())
    );
    assert!(meta.annotations.is_none() && meta.managed_fields.is_none());
    assert!(meta.resource_version.is_none());
}

#[test]
fn namespaced_objects_keep_their_namespace() {
    let role_binding = dynamic(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "ci", "namespace": "team-b-dev"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
        "subjects": [{"kind": "ServiceAccount", "name": "ci-bot"}],
    }));
    let decoded = decode(ObjectKind::RoleBinding, role_binding).unwrap();
    assert_eq!(
        decoded.object_ref(),
        ObjectRef::namespaced(ObjectKind::RoleBinding, "team-b-dev", "ci")
    );
}

type Script = Vec<Result<Event<DynamicObject>, String>>;

/// Runs `run_kind` over scripted watcher streams (then empty ones), without pauses.
fn scripted(scripts: Vec<Script>) -> mpsc::Receiver<WatchUpdate> {
    let (sender, receiver) = mpsc::channel(64);
    let mut scripts = scripts.into_iter();
    let connect = move || -> BoxStream<'static, Result<Event<DynamicObject>, String>> {
        stream::iter(scripts.next().unwrap_or_default()).boxed()
    };
    tokio::spawn(run_kind(
        ObjectKind::Namespace,
        connect,
        std::iter::repeat(Duration::ZERO),
        sender,
    ));
    receiver
}

#[tokio::test]
async fn a_failed_watch_is_listed_again_and_the_new_list_is_whole() {
    let mut updates = scripted(vec![
        vec![
            Ok(Event::Init),
            Ok(Event::InitApply(namespace("a", "w"))),
            Ok(Event::InitDone),
            Ok(Event::Apply(namespace("b", "w"))),
            Err("watch stream failed".to_string()),
            // Never read: the watcher is dropped at its first error.
            Ok(Event::Apply(namespace("never", "w"))),
        ],
        vec![
            Ok(Event::Init),
            Ok(Event::InitApply(namespace("b", "w"))),
            Ok(Event::InitDone),
        ],
    ]);
    assert_eq!(names(&updates.recv().await.unwrap()), ["a"]);
    assert!(matches!(
        updates.recv().await.unwrap(),
        WatchUpdate::Applied(_)
    ));
    assert!(matches!(
        updates.recv().await.unwrap(),
        WatchUpdate::Failed { kind: ObjectKind::Namespace, error } if error == "watch stream failed"
    ));
    assert_eq!(names(&updates.recv().await.unwrap()), ["b"]);
}
