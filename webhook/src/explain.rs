//! `scopegate explain`: how one request is decided, for people (or as JSON).

use crate::args::ExplainArgs;
use std::process::ExitCode;

/// Runs `explain`; exits 0 when the request is allowed and 1 when not, like `check`.
pub fn run(args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let policy = match args.policy.load(args.strict) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let request = args.request.to_request()?;
    let explanation = policy.explain(&request);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&explanation)?);
    } else {
        print!("{explanation}");
    }
    Ok(if explanation.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
