//! Loading the policy named on the command line for the commands that decide (`check`,
//! `explain`): they answer from whatever loads, as the webhook serves it, and tell on stderr
//! what does not.

use crate::args::PolicyArgs;
use scopegate_core::load::read_paths;
use scopegate_core::{Origin, Policy, PolicyOptions, PolicyStore, Severity};

/// Why a command that decides does not answer.
#[derive(Debug, thiserror::Error)]
pub enum NotAnswering {
    /// A path named with `--policy` does not exist: a typo, not a policy to decide on.
    #[error("--policy {0}: no such file or directory")]
    MissingPath(String),
    /// `--strict`, and the policy has errors (printed before).
    #[error(
        "--strict: the policy has {0} error(s), listed above; nothing is answered (without --strict, answers come from the objects that load)"
    )]
    Strict(usize),
}

impl PolicyArgs {
    /// The options the policy is built with.
    pub fn options(&self) -> PolicyOptions {
        PolicyOptions {
            cluster_name: self.cluster_name.clone(),
        }
    }

    /// Loads the policy as the webhook serves it: a document that cannot be read is left
    /// out, an object with an error grants nothing, and everything else decides. Every
    /// problem and warning is printed on stderr. With `strict`, any error refuses the policy.
    pub fn load(&self, strict: bool) -> Result<Policy, NotAnswering> {
        if let Some(missing) = self.policy.iter().find(|p| !p.exists()) {
            return Err(NotAnswering::MissingPath(missing.display().to_string()));
        }
        let (manifests, problems) = read_paths(&self.policy);
        for problem in &problems {
            eprintln!("error: {problem}");
        }
        for unknown in &manifests.unknown_fields {
            eprintln!("warning: {unknown}");
        }
        // The objects read go into the policy and are not kept: these commands only decide.
        let mut store = PolicyStore::new(self.options());
        store.replace_origin_with(Origin::Files, manifests.objects);
        let policy = store.policy();
        let mut object_errors = 0;
        for diagnostic in policy.diagnostics() {
            object_errors += usize::from(diagnostic.severity == Severity::Error);
            eprintln!("{diagnostic}");
        }
        let errors = problems.len() + object_errors;
        if errors > 0 {
            if strict {
                return Err(NotAnswering::Strict(errors));
            }
            eprintln!(
                "note: {errors} error(s): what could not be read and the objects with errors grant nothing; the answers come from the rest"
            );
        }
        Ok(policy)
    }
}
