//! Scopegate's decision engine: the five-layer scope cascade (Platform → Cluster →
//! Workspace/NodeGroup → Namespace/Node → Resource) over Kubernetes RBAC rules.
//!
//! Build a [`Policy`] from objects or manifest files, then ask it for a [`Decision`], an
//! [`Explanation`] or UI permissions. The engine is pure: no I/O but reading policy files,
//! no async runtime, no Kubernetes client.
//!
//! ```
//! use scopegate_core::{Policy, PolicyOptions, Request, ResourceAttributes, load};
//!
//! let manifests = r#"
//! apiVersion: rbac.authorization.k8s.io/v1
//! kind: Role
//! metadata: {name: reader, namespace: team-a}
//! rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
//! ---
//! apiVersion: rbac.authorization.k8s.io/v1
//! kind: RoleBinding
//! metadata: {name: alice-reads, namespace: team-a}
//! roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
//! subjects: [{kind: User, name: alice}]
//! "#;
//! let objects = load::parse_str(manifests, "inline.yaml").unwrap();
//! let policy = Policy::from_objects(&objects, &PolicyOptions::default()).unwrap();
//! let request = Request::resource("alice", ResourceAttributes {
//!     verb: "get".into(), resource: "pods".into(), namespace: "team-a".into(), ..Default::default()
//! });
//! assert!(policy.decide(&request).is_allowed());
//! ```

pub mod chain;
pub mod decision;
pub mod diagnostics;
pub mod engine;
pub mod explain;
pub mod load;
pub mod model;
pub mod objects;
pub mod policy;
pub mod rbac;
pub mod request;
pub mod sar;
pub mod store;
pub mod topology;

pub use decision::{Allowed, AllowedRef, Decision, DecisionRef};
pub use diagnostics::{Diagnostic, Severity};
pub use engine::{Answer, AnswerRef, Engine, EngineConfig, Tier};
pub use explain::Explanation;
pub use objects::{ObjectKind, ObjectRef, PolicyObject, PolicyObjects, Source};
pub use policy::{InvalidPolicy, Policy, PolicyOptions};
pub use request::{Action, NonResourceAttributes, Request, ResourceAttributes, SubjectInfo};
pub use store::{Change, ChangeEffect, ObjectList, Origin, OriginObjects, PolicyStore};
