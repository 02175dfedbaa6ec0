//! How the store keeps an object: behind an `Arc` sized to its own kind. A
//! [`PolicyObject`] is as large as its largest variant (a Node, about 1.5 KB), three times
//! a binding; kept as is, 100,000 bindings would waste about 90 MB.

use crate::model::{Cluster, IamRole, IamRoleBinding, NodeGroup, RoleTemplate, Workspace};
use crate::objects::{ObjectKind, ObjectRef, PolicyObject, PolicyObjects, SameObject};
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::sync::Arc;

macro_rules! stored {
    ($($kind:ident($t:ty) from $field:ident),* $(,)?) => {
        /// One object held by the store; cloning it copies a pointer.
        #[derive(Clone, Debug)]
        pub(crate) enum Stored {
            $(
                #[doc = concat!("A ", stringify!($kind), ".")]
                $kind(Arc<$t>),
            )*
        }

        impl From<PolicyObject> for Stored {
            fn from(object: PolicyObject) -> Self {
                match object {
                    $(PolicyObject::$kind(o) => Stored::$kind(Arc::new(o)),)*
                }
            }
        }

        impl Stored {
            /// A copy of the object, as the public type.
            pub(crate) fn to_object(&self) -> PolicyObject {
                match self {
                    $(Stored::$kind(o) => PolicyObject::$kind(<$t>::clone(o)),)*
                }
            }

            /// The object's metadata.
            pub(crate) fn metadata(&self) -> &ObjectMeta {
                match self {
                    $(Stored::$kind(o) => &o.metadata,)*
                }
            }

            /// The object as its own kind serializes it (what a manifest holds).
            pub(crate) fn serialize_into<S: serde::ser::SerializeSeq>(
                &self,
                items: &mut S,
            ) -> Result<(), S::Error> {
                match self {
                    $(Stored::$kind(o) => items.serialize_element(&**o),)*
                }
            }

            /// Which object this is ([`PolicyObject::object_ref`]).
            pub(crate) fn object_ref(&self) -> ObjectRef {
                match self {
                    $(Stored::$kind(o) => ObjectRef::of(ObjectKind::$kind, &o.metadata),)*
                }
            }

            /// A copy of every object of `objects`, each straight into its own `Arc`, kind
            /// by kind in [`PolicyObjects::into_objects`] order.
            ///
            /// Why by reference: copying the whole set first (and moving each object
            /// through a [`PolicyObject`], as large as a Node) cost more memory at its peak
            /// than the policy it built; this way each object is copied once, into what the
            /// store keeps.
            pub(crate) fn copies_of(objects: &PolicyObjects) -> impl Iterator<Item = Stored> + '_ {
                std::iter::empty()
                    $(.chain(objects.$field.iter().map(|o| Stored::$kind(Arc::new(o.clone())))))*
            }

            /// Whether two stored objects are the same, field for field (by pointer first).
            pub(crate) fn same(&self, other: &Stored) -> bool {
                match (self, other) {
                    $((Stored::$kind(a), Stored::$kind(b)) => {
                        Arc::ptr_eq(a, b) || a.same_object(b)
                    })*
                    _ => false,
                }
            }
        }
    };
}

// In `ObjectKind::ALL` order, each with its `PolicyObjects` field.
stored!(
    RoleTemplate(RoleTemplate) from role_templates,
    IamRole(IamRole) from iam_roles,
    IamRoleBinding(IamRoleBinding) from iam_role_bindings,
    Cluster(Cluster) from clusters,
    Workspace(Workspace) from workspaces,
    NodeGroup(NodeGroup) from node_groups,
    Role(Role) from roles,
    ClusterRole(ClusterRole) from cluster_roles,
    RoleBinding(RoleBinding) from role_bindings,
    ClusterRoleBinding(ClusterRoleBinding) from cluster_role_bindings,
    Namespace(Namespace) from namespaces,
    Node(Node) from nodes,
);
