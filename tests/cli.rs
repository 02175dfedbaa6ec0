//! The `scopegate` tools (`validate`, `check`, `explain`) as users run them: the real binary
//! on real policy files, judged by exit code, standard output and standard error.

mod support;

use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use support::{ScratchDir, demo_policies, scopegate_bin};

/// Runs `scopegate ARGS` with `stdin` as its standard input.
fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(scopegate_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scopegate");
    let mut input = child.stdin.take().expect("stdin piped");
    let text = stdin.to_string();
    // Written from a thread so a large input cannot deadlock against a full stdout pipe.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(text.as_bytes());
    });
    let output = child.wait_with_output().expect("wait for scopegate");
    writer.join().expect("stdin writer");
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn demo() -> String {
    demo_policies().display().to_string()
}

/// `scopegate <command> --policy <demo> ARGS`.
fn on_demo(command: &str, args: &[&str]) -> Output {
    let demo = demo();
    let mut all = vec![command, "--policy", demo.as_str()];
    all.extend_from_slice(args);
    run(&all, "")
}

/// Answers from `check` on stdin, one JSON value per output line.
fn answers(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

fn line(review: &Value) -> String {
    serde_json::to_string(review).unwrap()
}

fn v1_review(user: &str, groups: &[&str], attributes: Value) -> Value {
    json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": { "user": user, "groups": groups, "resourceAttributes": attributes }
    })
}

/// A review's status, checked to be a Scopegate answer: `allowed` set, a reason, never `denied`.
fn status(answer: &Value) -> &Value {
    let status = &answer["status"];
    assert!(status["allowed"].is_boolean(), "no allowed in {answer}");
    assert!(
        status.get("denied").is_none(),
        "Scopegate never denies: {answer}"
    );
    assert!(
        status["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "no reason in {answer}"
    );
    status
}

// --- validate ------------------------------------------------------------------------------

#[test]
fn validate_accepts_the_demo_policy_with_a_one_line_summary() {
    let output = on_demo("validate", &[]);
    assert!(
        output.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&output),
        stderr(&output)
    );
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one summary line, got:\n{out}");
    let summary = lines[0];
    assert!(summary.starts_with("ok: "), "{summary}");
    for counted in [
        "7 IAMRole,",
        "10 IAMRoleBinding",
        "13 RoleTemplate",
        "2 Workspace",
        "1 ClusterRoleBinding",
        "3 Node",
    ] {
        assert!(
            summary.contains(counted),
            "summary should count {counted:?}: {summary}"
        );
    }
}

#[test]
fn validate_prints_every_error_with_its_place_and_exits_1() {
    let dir = ScratchDir::new("validate-broken");
    std::fs::write(
        dir.path("10-roles.yaml"),
        "\
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRole
metadata:
  name: ns-reader
spec:
  scope: Namespace
  rules:
    - apiGroups: [\"\"]
      resources: [pods]
      verbs: [get]
",
    )
    .unwrap();
    // A syntax error on line 7.
    std::fs::write(
        dir.path("20-syntax.yaml"),
        "\
apiVersion: iam.theriseunion.io/v1alpha1
kind: RoleTemplate
metadata:
  name: broken
spec:
  rules:
    - apiGroups: [\"\"
      verbs: [get]
",
    )
    .unwrap();
    // A field of the wrong shape in the second document.
    std::fs::write(
        dir.path("30-bad-field.yaml"),
        "\
apiVersion: scope.theriseunion.io/v1alpha1
kind: Workspace
metadata:
  name: fine
spec:
  displayName: Fine
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRole
metadata:
  name: nowhere
spec:
  scope: Galaxy
",
    )
    .unwrap();
    // Two semantic errors: a binding to a role that does not exist, and a Namespace role
    // bound at a Workspace scope.
    std::fs::write(
        dir.path("40-bindings.yaml"),
        "\
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata:
  name: to-a-ghost
spec:
  subjects: [{kind: User, name: alice}]
  roleRef: {kind: IAMRole, name: ghost-role}
  scope: {kind: Namespace, name: team-a-dev}
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata:
  name: wrong-scope-kind
spec:
  subjects: [{kind: User, name: alice}]
  roleRef: {kind: IAMRole, name: ns-reader}
  scope: {kind: Workspace, name: fine}
",
    )
    .unwrap();
    let policy = dir.0.display().to_string();
    let output = run(&["validate", "--policy", &policy], "");
    let out = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout:\n{out}\nstderr:\n{}",
        stderr(&output)
    );
    let has = |needles: &[&str]| out.lines().any(|l| needles.iter().all(|n| l.contains(n)));
    assert!(
        has(&["20-syntax.yaml:8"]),
        "syntax error with file:line:\n{out}"
    );
    assert!(
        has(&[
            "30-bad-field.yaml:",
            "IAMRole nowhere",
            "spec.scope",
            "Galaxy"
        ]),
        "bad field:\n{out}"
    );
    assert!(
        has(&[
            "40-bindings.yaml:",
            "to-a-ghost",
            "ghost-role",
            "does not exist"
        ]),
        "missing role:\n{out}"
    );
    assert!(
        has(&[
            "40-bindings.yaml:",
            "wrong-scope-kind",
            "spec.scope.kind",
            "Namespace",
            "Workspace"
        ]),
        "role bound at a scope of another kind:\n{out}"
    );
    assert!(has(&["4 error(s)"]), "error count:\n{out}");
    assert!(!out.contains("ok:"), "no summary on failure:\n{out}");
}

// --- check, reviews on stdin ----------------------------------------------------------------

#[test]
fn check_answers_v1_and_v1beta1_reviews_keeping_version_and_request() {
    let allowed_v1 = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "metadata": { "creationTimestamp": null },
        "spec": {
            "user": "bob",
            "groups": ["team-a-devs", "system:authenticated"],
            "uid": "8d3f6c2e",
            "resourceAttributes": { "verb": "get", "version": "v1", "resource": "pods", "subresource": "log", "namespace": "team-a-dev", "name": "api-0" }
        }
    });
    // v1beta1 carries the groups in `group`.
    let allowed_v1beta1 = json!({
        "apiVersion": "authorization.k8s.io/v1beta1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "bob",
            "group": ["team-a-devs"],
            "resourceAttributes": { "verb": "get", "resource": "pods", "subresource": "log", "namespace": "team-a-dev", "name": "api-0" }
        }
    });
    let no_opinion = v1_review(
        "bob",
        &["team-a-devs"],
        json!({"verb": "get", "resource": "pods", "namespace": "team-a-prod"}),
    );
    let input = [&allowed_v1, &allowed_v1beta1, &no_opinion]
        .map(line)
        .join("\n")
        + "\n";
    let output = run(&["check", "--policy", &demo()], &input);
    assert!(output.status.success(), "stderr:\n{}", stderr(&output));
    let answers = answers(&output);
    assert_eq!(answers.len(), 3);
    for (question, answer) in [&allowed_v1, &allowed_v1beta1, &no_opinion]
        .into_iter()
        .zip(&answers)
    {
        assert_eq!(answer["apiVersion"], question["apiVersion"]);
        assert_eq!(answer["kind"], "SubjectAccessReview");
        assert_eq!(
            answer["spec"], question["spec"],
            "the whole request comes back"
        );
        status(answer);
    }
    assert_eq!(answers[0]["metadata"], allowed_v1["metadata"]);
    assert_eq!(answers[0]["status"]["allowed"], true);
    assert!(
        answers[0]["status"]["reason"]
            .as_str()
            .unwrap()
            .contains("team-a-dev-developers")
    );
    assert_eq!(
        answers[1]["status"]["allowed"], true,
        "v1beta1 `group` counts: {}",
        answers[1]
    );
    assert_eq!(answers[2]["status"]["allowed"], false);
}

#[test]
fn check_reports_an_invalid_line_and_still_answers_the_others_in_order() {
    let first = v1_review(
        "carol",
        &[],
        json!({"verb": "delete", "resource": "pods", "namespace": "team-a-prod", "name": "x"}),
    );
    let third = v1_review(
        "nobody",
        &[],
        json!({"verb": "get", "resource": "pods", "namespace": "team-a-dev"}),
    );
    let fifth = v1_review(
        "bob",
        &["team-a-devs"],
        json!({"verb": "create", "group": "apps", "resource": "deployments", "namespace": "team-a-dev"}),
    );
    let input = format!(
        "{}\n{{\"apiVersion\": \"authorization.k8s.io/v1\", \"kind\": \n{}\n{}\n{}\n",
        line(&first),
        line(&third),
        r#"{"apiVersion":"authorization.k8s.io/v1","kind":"ConfigMap","spec":{"user":"bob"}}"#,
        line(&fifth)
    );
    let output = run(&["check", "--policy", &demo()], &input);
    assert!(
        !output.status.success(),
        "an invalid line makes the exit non-zero"
    );
    let err = stderr(&output);
    assert!(err.contains("line 2:"), "stderr:\n{err}");
    assert!(
        err.contains("line 4:") && err.contains("kind"),
        "stderr:\n{err}"
    );
    assert!(
        !err.contains("line 1:") && !err.contains("line 3:") && !err.contains("line 5:"),
        "stderr:\n{err}"
    );
    let answers = answers(&output);
    assert_eq!(answers.len(), 3, "the three valid lines are answered");
    assert_eq!(answers[0]["spec"], first["spec"]);
    assert_eq!(answers[1]["spec"], third["spec"]);
    assert_eq!(answers[2]["spec"], fifth["spec"]);
    assert_eq!(status(&answers[0])["allowed"], true);
    assert_eq!(status(&answers[1])["allowed"], false);
    assert_eq!(status(&answers[2])["allowed"], true);
}

#[test]
fn check_accepts_field_and_label_selectors() {
    let review = v1_review(
        "bob",
        &["team-a-devs"],
        json!({
            "verb": "list", "version": "v1", "resource": "pods", "namespace": "team-a-dev",
            "fieldSelector": { "rawSelector": "spec.nodeName=gpu-node-1", "requirements": [{ "key": "spec.nodeName", "operator": "In", "values": ["gpu-node-1"] }] },
            "labelSelector": { "rawSelector": "app=api", "requirements": [{ "key": "app", "operator": "In", "values": ["api"] }] }
        }),
    );
    let output = run(&["check", "--policy", &demo()], &(line(&review) + "\n"));
    assert!(output.status.success(), "stderr:\n{}", stderr(&output));
    let answers = answers(&output);
    assert_eq!(answers.len(), 1);
    assert_eq!(
        answers[0]["spec"], review["spec"],
        "selectors are kept in the answer"
    );
    assert_eq!(status(&answers[0])["allowed"], true);
}

// --- check, one request from flags ----------------------------------------------------------

#[test]
fn check_with_flags_exits_0_and_prints_allowed() {
    let output = on_demo(
        "check",
        &[
            "--user",
            "bob",
            "--group",
            "team-a-devs",
            "--verb",
            "get",
            "--resource",
            "pods",
            "--subresource",
            "log",
            "-n",
            "team-a-dev",
            "--name",
            "api-0",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        stderr(&output)
    );
    let out = stdout(&output);
    assert!(out.starts_with("allowed"), "{out}");
    assert!(out.contains("team-a-dev-developers"), "{out}");
}

#[test]
fn check_with_flags_exits_1_when_nothing_allows() {
    // bob without his group reaches nothing.
    let output = on_demo(
        "check",
        &[
            "--user",
            "bob",
            "--verb",
            "get",
            "--resource",
            "pods",
            "--subresource",
            "log",
            "-n",
            "team-a-dev",
            "--name",
            "api-0",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "stderr:\n{}",
        stderr(&output)
    );
    let out = stdout(&output);
    assert!(out.starts_with("no opinion"), "{out}");
    assert!(!out.starts_with("allowed"), "{out}");
}

#[test]
fn check_with_flags_decides_non_resource_paths() {
    let allowed = on_demo(
        "check",
        &[
            "--user", "sam", "--group", "sre", "--verb", "get", "--path", "/metrics",
        ],
    );
    assert_eq!(
        allowed.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&allowed),
        stderr(&allowed)
    );
    assert!(
        stdout(&allowed).contains("sre-monitoring"),
        "{}",
        stdout(&allowed)
    );
    let not_allowed = on_demo(
        "check",
        &[
            "--user",
            "bob",
            "--group",
            "team-a-devs",
            "--verb",
            "get",
            "--path",
            "/metrics",
        ],
    );
    assert_eq!(not_allowed.status.code(), Some(1));
}

// --- explain ----------------------------------------------------------------------------------

const BOB_LOG: &[&str] = &[
    "--user",
    "bob",
    "--group",
    "team-a-devs",
    "--verb",
    "get",
    "--resource",
    "pods",
    "--subresource",
    "log",
    "-n",
    "team-a-dev",
    "--name",
    "api-0",
];
const ERIN_OTHER_POD: &[&str] = &[
    "--user",
    "erin",
    "--verb",
    "get",
    "--resource",
    "pods",
    "-n",
    "team-a-dev",
    "--name",
    "api-0",
];

#[test]
fn explain_prints_the_scope_chain_and_the_deciding_binding() {
    let output = on_demo("explain", BOB_LOG);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        stderr(&output)
    );
    let out = stdout(&output);
    for expected in [
        "Namespace \"team-a-dev\"",
        "Workspace \"team-a\"",
        "Cluster \"default\"",
        "Platform",
        "team-a-dev-developers",
        "namespace-developer",
    ] {
        assert!(
            out.contains(expected),
            "explain should mention {expected:?}:\n{out}"
        );
    }
}

#[test]
fn explain_json_is_valid_and_agrees_with_check() {
    for request in [BOB_LOG, ERIN_OTHER_POD] {
        let mut json_args = vec!["--json"];
        json_args.extend_from_slice(request);
        let explained = on_demo("explain", &json_args);
        let explanation: Value = serde_json::from_slice(&explained.stdout).unwrap_or_else(|e| {
            panic!("explain --json is not JSON ({e}):\n{}", stdout(&explained))
        });
        let checked = on_demo("check", request);
        let check_allowed = checked.status.code() == Some(0);
        assert_eq!(
            explanation["allowed"],
            Value::Bool(check_allowed),
            "{request:?}: {explanation}"
        );
        assert_eq!(
            explained.status.code(),
            checked.status.code(),
            "{request:?}"
        );
        assert!(
            explanation["chain"]
                .as_array()
                .is_some_and(|c| !c.is_empty()),
            "{explanation}"
        );
    }
}

// --- errors -----------------------------------------------------------------------------------

#[test]
fn a_missing_policy_path_is_a_clear_error_and_nothing_on_stdout() {
    let dir = ScratchDir::new("missing-policy");
    let missing = dir.path("no-such-policy.yaml").display().to_string();
    let review = line(&v1_review(
        "bob",
        &["team-a-devs"],
        json!({"verb": "get", "resource": "pods", "namespace": "team-a-dev"}),
    ));
    let runs: Vec<(&str, Output)> = vec![
        ("validate", run(&["validate", "--policy", &missing], "")),
        (
            "check stdin",
            run(&["check", "--policy", &missing], &(review + "\n")),
        ),
        (
            "check flags",
            run(
                &[
                    "check",
                    "--policy",
                    &missing,
                    "--user",
                    "bob",
                    "--verb",
                    "get",
                    "--resource",
                    "pods",
                ],
                "",
            ),
        ),
        (
            "explain",
            run(
                &[
                    "explain",
                    "--policy",
                    &missing,
                    "--user",
                    "bob",
                    "--verb",
                    "get",
                    "--resource",
                    "pods",
                ],
                "",
            ),
        ),
    ];
    for (what, output) in runs {
        assert!(!output.status.success(), "{what} must fail");
        let (out, err) = (stdout(&output), stderr(&output));
        // `validate` reports problems on stdout, as its result; the others must print nothing
        // an automaton could mistake for an answer.
        let report = if what == "validate" {
            out.clone()
        } else {
            err.clone()
        };
        assert!(
            report.contains(&missing),
            "{what}: should name {missing}:\nstdout:\n{out}\nstderr:\n{err}"
        );
        if what != "validate" {
            assert!(out.is_empty(), "{what}: nothing on stdout, got:\n{out}");
        }
        assert!(!out.contains("allowed"), "{what}: {out}");
    }
}

#[test]
fn crd_prints_every_crd_and_writes_the_committed_files() {
    use serde::Deserialize;
    let output = run(&["crd"], "");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let names: Vec<String> = serde_yaml::Deserializer::from_str(&text)
        .map(|document| {
            let crd = Value::deserialize(document).expect("a YAML document");
            assert_eq!(crd["kind"], "CustomResourceDefinition");
            crd["metadata"]["name"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        names,
        [
            "roletemplates.iam.theriseunion.io",
            "iamroles.iam.theriseunion.io",
            "iamrolebindings.iam.theriseunion.io",
            "clusters.scope.theriseunion.io",
            "workspaces.scope.theriseunion.io",
            "nodegroups.scope.theriseunion.io",
        ]
    );
    assert!(text.contains("x-kubernetes-validations"));
    let without = run(&["crd", "--without-cel-rules"], "");
    assert!(without.status.success());
    assert!(!stdout(&without).contains("x-kubernetes-validations"));

    // --out-dir writes what is committed under deploy/crds, one file per CRD.
    let scratch = ScratchDir::new("crd-out");
    let out_dir = scratch.path("crds");
    let output = run(&["crd", "--out-dir", out_dir.to_str().unwrap()], "");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).is_empty());
    let committed = support::repo_root().join("deploy/crds");
    for name in &names {
        let file = format!("{name}.yaml");
        assert!(stderr(&output).contains(&file), "{}", stderr(&output));
        let written = std::fs::read_to_string(out_dir.join(&file)).unwrap();
        let expected = std::fs::read_to_string(committed.join(&file)).unwrap();
        assert!(
            written == expected,
            "{file}: deploy/crds is out of date; run `cargo run -p scopegate -- crd --out-dir deploy/crds`"
        );
    }
}

#[test]
fn lease_timings_that_cannot_step_down_in_time_stop_the_controller_before_it_connects() {
    // No API server anywhere: the command must fail on its flags, not on the connection.
    let missing = ScratchDir::new("lease-flags");
    let kubeconfig = missing.path("no-such-kubeconfig").display().to_string();
    let output = run(
        &[
            "controller",
            "--kubeconfig",
            &kubeconfig,
            "--lease-duration-seconds",
            "10",
            "--lease-renew-deadline-seconds",
            "10",
        ],
        "",
    );
    // 2: the command could not run (as for any error outside a decision).
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("--lease-renew-deadline-seconds 10")
            && message.contains("shorter than the lease duration"),
        "{message}"
    );
    assert!(!message.contains("no-such-kubeconfig"), "{message}");

    let output = run(
        &[
            "controller",
            "--kubeconfig",
            &kubeconfig,
            "--lease-retry-period-seconds",
            "0",
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("retry period"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_answers_a_policy_with_errors_exactly_as_the_same_policy_without_the_objects_at_fault() {
    let dir = ScratchDir::new("three-mistakes");
    let with = dir.path("with");
    let without = dir.path("without");
    for target in [&with, &without] {
        std::fs::create_dir_all(target).unwrap();
        for entry in std::fs::read_dir(demo_policies()).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, target.join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(support::three_mistakes(), with.join("90-mistakes.yaml")).unwrap();
    std::fs::write(
        without.join("90-mistakes.yaml"),
        support::three_mistakes_removed(),
    )
    .unwrap();
    let input: String = support::three_mistakes_probes()
        .iter()
        .map(|r| line(r) + "\n")
        .collect();
    let check = |dir: &std::path::Path, extra: &[&str]| {
        let dir = dir.display().to_string();
        let mut args = vec![
            "check",
            "--policy",
            dir.as_str(),
            "--cluster-name",
            "default",
        ];
        args.extend_from_slice(extra);
        run(&args, &input)
    };

    let clean = check(&without, &[]);
    assert!(clean.status.success(), "{}", stderr(&clean));
    assert!(
        !stderr(&clean).contains("error"),
        "the clean policy has no error: {}",
        stderr(&clean)
    );
    let broken = check(&with, &[]);
    assert_eq!(
        broken.status.code(),
        Some(0),
        "every request answered: {}",
        stderr(&broken)
    );
    assert_eq!(answers(&broken), answers(&clean));
    let allowed: Vec<bool> = answers(&broken)
        .iter()
        .map(|a| status(a)["allowed"].as_bool().unwrap())
        .collect();
    assert_eq!(allowed, [false, false, false, false, true, true, true]);
    let err = stderr(&broken);
    for (name, field) in [
        ("mallory-ghost", "spec.roleRef.name"),
        ("mallory-wrong-kind", "spec.scope.kind"),
        ("mallory-undeclared", "spec.scope.name"),
    ] {
        assert!(
            err.lines().any(|l| l.contains(name)
                && l.contains(field)
                && l.contains("error")
                && l.contains("90-mistakes.yaml")),
            "{name} {field} not reported:\n{err}"
        );
    }

    // --strict answers nothing and exits 2, which a script tells apart from "not allowed" (1).
    let strict = check(&with, &["--strict"]);
    assert_eq!(strict.status.code(), Some(2), "{}", stderr(&strict));
    assert_eq!(stdout(&strict), "");
    assert!(stderr(&strict).contains("--strict"), "{}", stderr(&strict));
    let strict_clean = check(&without, &["--strict"]);
    assert_eq!(answers(&strict_clean), answers(&clean));
}

#[test]
fn check_leaves_out_a_document_that_does_not_fit_its_type_and_answers_from_the_rest() {
    let dir = ScratchDir::new("bad-document");
    let file = dir.path("policy.yaml");
    std::fs::write(
        &file,
        "\
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRole
metadata: {name: reader}
spec:
  scope: Platform
  rules: [{apiGroups: [\"\"], resources: [pods], verbs: [get]}]
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata: {name: broken}
spec:
  subjects: [{kind: User, name: mallory}]
  roleRef: {kind: IAMRole, name: reader}
  scope: {kind: Galaxy}
---
apiVersion: iam.theriseunion.io/v1alpha1
kind: IAMRoleBinding
metadata: {name: alice-reads}
spec:
  subjects: [{kind: User, name: alice}]
  roleRef: {kind: IAMRole, name: reader}
  scope: {kind: Platform}
",
    )
    .unwrap();
    let file = file.display().to_string();
    let input = [
        review_line("alice", "get", "pods", "a"),
        review_line("mallory", "get", "pods", "a"),
    ]
    .concat();
    let output = run(&["check", "--policy", &file], &input);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let allowed: Vec<bool> = answers(&output)
        .iter()
        .map(|a| status(a)["allowed"].as_bool().unwrap())
        .collect();
    assert_eq!(allowed, [true, false]);
    let err = stderr(&output);
    assert!(
        err.contains("policy.yaml:8: document 2 (IAMRoleBinding broken): spec.scope.kind"),
        "{err}"
    );
    let validate = run(&["validate", "--policy", &file], "");
    assert_eq!(
        validate.status.code(),
        Some(1),
        "validate still fails on any error"
    );
}

fn review_line(user: &str, verb: &str, resource: &str, namespace: &str) -> String {
    line(&v1_review(
        user,
        &[],
        json!({"verb": verb, "resource": resource, "namespace": namespace}),
    )) + "\n"
}
