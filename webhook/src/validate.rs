//! `scopegate validate`: every problem in a set of policy files, or a one-line summary.

use crate::args::ValidateArgs;
use scopegate_core::load::read_paths;
use scopegate_core::{Policy, Severity};
use std::process::ExitCode;

/// Runs `validate`: parse errors and semantic errors are all printed, warnings too; exits 1
/// when there is any error. Files with parse errors do not hide the semantic errors of the
/// rest: what could be read is still checked.
pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let (manifests, problems) = read_paths(&args.policy.policy);
    for problem in &problems {
        println!("{problem}");
    }
    for unknown in &manifests.unknown_fields {
        println!("warning: {unknown}");
    }
    let policy = Policy::compile(&manifests.objects, &args.policy.options());
    let semantic_errors = policy
        .diagnostics()
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    for diagnostic in policy.diagnostics() {
        println!("{diagnostic}");
    }
    let errors = problems.len() + semantic_errors;
    if errors > 0 {
        if !problems.is_empty() && semantic_errors > 0 {
            println!(
                "note: some objects could not be read; errors about missing objects may come from them"
            );
        }
        println!("{errors} error(s)");
        return Ok(ExitCode::from(1));
    }
    let counts: Vec<String> = manifests
        .objects
        .counts()
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    let skipped: usize = manifests.skipped.values().sum();
    let mut summary = format!(
        "ok: {} objects in {} files ({})",
        manifests.objects.len(),
        manifests.files.len(),
        if counts.is_empty() {
            "none".to_string()
        } else {
            counts.join(", ")
        }
    );
    let warnings = policy.diagnostics().len() + manifests.unknown_fields.len();
    if warnings > 0 {
        summary.push_str(&format!("; {warnings} warning(s)"));
    }
    if skipped > 0 {
        summary.push_str(&format!("; {skipped} other object(s) skipped"));
    }
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}
