//! Loading the policy named on the command line, with errors people can act on.

use crate::args::PolicyArgs;
use scopegate_core::load::{PolicyLoadError, load_paths};
use scopegate_core::{Policy, PolicyOptions, Severity};

impl PolicyArgs {
    /// The options the policy is built with.
    pub fn options(&self) -> PolicyOptions {
        PolicyOptions {
            cluster_name: self.cluster_name.clone(),
        }
    }

    /// Loads and builds the policy, refusing it whole on any error. The objects read go into
    /// the policy and are not kept: the commands that load this way only decide.
    pub fn load(&self) -> Result<Policy, PolicyLoadError> {
        let manifests = load_paths(&self.policy)?;
        for unknown in &manifests.unknown_fields {
            eprintln!("warning: {unknown}");
        }
        let policy = Policy::from_owned_objects(manifests.objects, &self.options())?;
        for warning in policy
            .diagnostics()
            .iter()
            .filter(|d| d.severity == Severity::Warning)
        {
            eprintln!("{warning}");
        }
        Ok(policy)
    }
}
