//! Benchmark support for Scopegate.
//!
//! - [`policy_gen`]: a deterministic generator of large realistic policies (1k to 1M
//!   bindings) and of requests consistent with them, with the answer each must get;
//! - [`demo`]: the demo policy's personas and their requests;
//! - [`linear`]: a linear-scan evaluator in the style of the Kubernetes RBAC authorizer,
//!   the baseline of the decision benchmarks (`benches/decision.rs`);
//! - the `loadgen` binary sends SubjectAccessReviews to a running webhook, closed or open
//!   loop, and reports throughput and latency percentiles;
//! - the `gen_policy` binary writes a generated policy as YAML for `scopegate serve --policy`.
//!
//! See BENCHMARKS.md at the repository root for how they are used and what they measured.

pub mod demo;
pub mod linear;
pub mod policy_gen;

pub use demo::demo_requests;
pub use policy_gen::{
    Expected, GenConfig, GeneratedObject, GeneratedPolicy, LabelledRequest, PolicySize, Rng,
    SERVED_CLUSTER, sar_body, sar_json,
};
