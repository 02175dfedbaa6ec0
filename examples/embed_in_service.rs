//! A Rust service deciding its own requests with Scopegate, in-process.
//!
//! The service loads the same policy the cluster's webhook serves (here: the demo tenant
//! layout in `examples/policies`), then asks the engine before each operation, just as
//! kube-apiserver asks the webhook. Run it with:
//!
//! ```text
//! cargo run -p scopegate-core --example embed_in_service
//! ```

use scopegate_core::load::load_policy;
use scopegate_core::model::Scope;
use scopegate_core::{PolicyOptions, Request, ResourceAttributes, SubjectInfo};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Load once at start-up; a service would reload on change and swap an Arc<Policy>.
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies");
    let (policy, manifests) = load_policy(&[policies], &PolicyOptions::default())?;
    println!(
        "loaded {} objects from {} files",
        manifests.objects.len(),
        manifests.files.len()
    );

    // The service's own operation: "bob wants to read the logs of pod api-0 in team-a-dev".
    let request = Request::resource(
        "bob",
        ResourceAttributes {
            verb: "get".into(),
            resource: "pods".into(),
            subresource: "log".into(),
            name: "api-0".into(),
            namespace: "team-a-dev".into(),
            ..Default::default()
        },
    )
    .with_groups(["team-a-devs", "system:authenticated"]);

    // Borrowed from the policy (`decide_ref`): nothing is copied or counted for an answer
    // read on the spot; `policy.decide` (or `.to_decision()`) gives one to keep.
    let decision = policy.decide_ref(&request);
    println!(
        "{}: {}",
        if decision.is_allowed() {
            "allow"
        } else {
            "refuse"
        },
        decision.reason()
    );

    // When someone asks "why?", the explanation shows the whole walk up the scope chain.
    println!("\n{}", policy.explain(&request));

    // A console shows or hides its parts from the same policy.
    let subject = SubjectInfo {
        user: "carol".into(),
        groups: vec!["system:authenticated".into()],
    };
    let workspace = Scope::Workspace {
        name: "team-a".into(),
    };
    println!(
        "carol's console permissions in workspace team-a: {:?}",
        policy.ui_permissions(&subject, &workspace)
    );
    Ok(())
}
