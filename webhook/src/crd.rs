//! `scopegate crd`: the CustomResourceDefinitions of Scopegate's objects, generated from the
//! Rust types the engine reads (see `scopegate_kube::crd`). Printed as one multi-document YAML
//! stream, or written one file per CRD into `--out-dir` (how `deploy/crds/` is regenerated).

use crate::args::CrdArgs;
use anyhow::Context;
use scopegate_kube::crd;
use std::io::Write;
use std::process::ExitCode;

/// Prints every CRD to standard output, or writes them into `--out-dir` and names the files
/// written on standard error.
pub fn run(args: &CrdArgs) -> anyhow::Result<ExitCode> {
    let mut crds = crd::all();
    if args.without_cel_rules {
        crds = crds.into_iter().map(crd::without_cel_rules).collect();
    }
    match &args.out_dir {
        Some(dir) => {
            for path in crd::write_dir(dir, &crds)? {
                eprintln!("wrote {}", path.display());
            }
        }
        None => {
            let yaml = crd::to_multi_document_yaml(&crds).context("serializing the CRDs")?;
            std::io::stdout()
                .lock()
                .write_all(yaml.as_bytes())
                .context("writing to standard output")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
