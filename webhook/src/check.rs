//! `scopegate check`: decide SubjectAccessReviews from standard input exactly as the webhook
//! does, or one request given with flags, like `kubectl auth can-i`.

use crate::args::CheckArgs;
use scopegate_core::Policy;
use scopegate_core::sar::{self, ReviewStatus};
use std::io::{BufRead, Write};
use std::process::ExitCode;

/// Runs `check`.
pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let policy = match args.policy.load(args.strict) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if args.request.is_given() {
        let request = args.request.to_request()?;
        let decision = policy.decide(&request);
        let verdict = if decision.is_allowed() {
            "allowed"
        } else {
            "no opinion"
        };
        println!("{verdict}: {}", decision.reason());
        return Ok(if decision.is_allowed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let failures = answer_reviews(&policy, stdin.lock(), &mut stdout.lock())?;
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Answers one SubjectAccessReview per input line; returns how many lines were not reviews.
/// Blank lines are skipped; an invalid line is reported on stderr and the rest still answered.
pub fn answer_reviews(
    policy: &Policy,
    input: impl BufRead,
    output: &mut impl Write,
) -> anyhow::Result<usize> {
    let mut failures = 0;
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                eprintln!("line {number}: cannot read: {e}");
                failures += 1;
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match sar::decode(line.as_bytes()) {
            Ok(review) => {
                let status = ReviewStatus::from_decision(policy.decide_ref(&review.request));
                serde_json::to_writer(&mut *output, &review.reply(&status))?;
                writeln!(output)?;
            }
            Err(e) => {
                eprintln!("line {number}: not a valid SubjectAccessReview: {e}");
                failures += 1;
            }
        }
    }
    output.flush()?;
    Ok(failures)
}
