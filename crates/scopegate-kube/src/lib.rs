//! Scopegate inside a Kubernetes cluster, over the pure engine in `scopegate-core`:
//!
//! - [`crd`]: the CustomResourceDefinitions of the iam and scope objects, generated from the
//!   same Rust types the engine reads;
//! - [`watch`]: a watch-fed policy source: one watcher per policy kind on the API server,
//!   feeding a policy store;
//! - [`controller`]: the controllers that materialise IAMRoles and IAMRoleBindings as native
//!   RBAC (with [`materialize`]) and keep NodeGroup membership labels on nodes, under leader
//!   election.

pub mod controller;
pub mod crd;
pub mod materialize;
pub mod watch;
