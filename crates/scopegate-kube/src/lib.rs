//! Scopegate inside a Kubernetes cluster, over the pure engine in `scopegate-core`:
//!
//! - [`crd`]: the CustomResourceDefinitions of the iam and scope objects, generated from the
//!   same Rust types the engine reads;
//! - a watch-fed policy source: reflectors on the API server feeding the engine;
//! - controllers that materialise IAMRoles and IAMRoleBindings as native RBAC, and keep
//!   NodeGroup membership labels on nodes.

pub mod crd;
pub mod materialize;
