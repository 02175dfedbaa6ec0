//! How the store keeps an object: behind an `Arc` sized to its own kind. A
//! [`PolicyObject`] is as large as its largest variant (a Node, about 1.5 KB), three times
//! a binding; kept as is, 100,000 bindings would waste about 90 MB.

use crate::model::{Cluster, IamRole, IamRoleBinding, NodeGroup, RoleTemplate, Workspace};
use crate::objects::{PolicyObject, SameObject};
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::sync::Arc;

macro_rules! stored {
    ($($kind:ident($t:ty)),* $(,)?) => {
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

            /// Whether this is `object`, field for field.
            pub(crate) fn is(&self, object: &PolicyObject) -> bool {
                match (self, object) {
                    $((Stored::$kind(a), PolicyObject::$kind(b)) => a.same_object(b),)*
                    _ => false,
                }
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

stored!(
    RoleTemplate(RoleTemplate),
    IamRole(IamRole),
    IamRoleBinding(IamRoleBinding),
    Cluster(Cluster),
    Workspace(Workspace),
    NodeGroup(NodeGroup),
    Role(Role),
    ClusterRole(ClusterRole),
    RoleBinding(RoleBinding),
    ClusterRoleBinding(ClusterRoleBinding),
    Namespace(Namespace),
    Node(Node),
);
