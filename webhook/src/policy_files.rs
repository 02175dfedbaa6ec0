//! Loading the policy named on the command line, with errors people can act on.

use crate::args::PolicyArgs;
use scopegate_core::load::{Manifests, PolicyLoadError, load_policy};
use scopegate_core::{Policy, PolicyOptions, Severity};

impl PolicyArgs {
    /// The options the policy is built with.
    pub fn options(&self) -> PolicyOptions {
        PolicyOptions {
            cluster_name: self.cluster_name.clone(),
        }
    }

    /// Loads and builds the policy, refusing it whole on any error.
    pub fn load(&self) -> Result<(Policy, Manifests), PolicyLoadError> {
        let loaded = load_policy(&self.policy, &self.options())?;
        for unknown in &loaded.1.unknown_fields {
            eprintln!("warning: {unknown}");
        }
        for warning in loaded
            .0
            .diagnostics()
            .iter()
            .filter(|d| d.severity == Severity::Warning)
        {
            eprintln!("{warning}");
        }
        Ok(loaded)
    }
}
