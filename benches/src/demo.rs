//! Requests for the demo policy (`examples/policies`, embedded in `scopegate serve` when no
//! `--policy` is given): its personas asking what their roles allow, at every scope kind,
//! and things nothing allows them.

use crate::policy_gen::{Expected, LabelledRequest, resource_action};
use scopegate_core::model::ScopeKind;
use scopegate_core::{Action, NonResourceAttributes, Request};

/// A resource request; `what` is written like kubectl's `RESOURCE[.GROUP][/SUBRESOURCE]`,
/// e.g. `deployments.apps` or `pods/exec`.
fn resource(
    user: &str,
    groups: &[&str],
    verb: &str,
    what: &str,
    namespace: &str,
    name: &str,
) -> Request {
    let (resource_group, sub) = what.split_once('/').unwrap_or((what, ""));
    let (resource, group) = resource_group
        .split_once('.')
        .unwrap_or((resource_group, ""));
    let mut all: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    all.push("system:authenticated".to_string());
    Request {
        user: user.to_string(),
        groups: all,
        uid: format!("uid-{user}"),
        extra: Default::default(),
        action: resource_action(verb, group, resource, sub, namespace, name),
    }
}

fn url(user: &str, groups: &[&str], verb: &str, path: &str) -> Request {
    let mut all: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    all.push("system:authenticated".to_string());
    Request {
        user: user.to_string(),
        groups: all,
        uid: format!("uid-{user}"),
        extra: Default::default(),
        action: Action::NonResource(NonResourceAttributes {
            verb: verb.to_string(),
            path: path.to_string(),
        }),
    }
}

/// The demo personas' requests and the answers the demo policy gives them: 14 allowed
/// (at the Platform, Cluster, Workspace, NodeGroup, Namespace and Resource scopes) and 8
/// with no opinion.
pub fn demo_requests() -> Vec<LabelledRequest> {
    use Expected::{Allowed, NoOpinion};
    use ScopeKind::*;
    let ci_bot = "system:serviceaccount:team-b-dev:ci-bot";
    let ci_groups = [
        "system:serviceaccounts",
        "system:serviceaccounts:team-b-dev",
    ];
    let list = vec![
        // Allowed.
        (
            resource(
                "pat",
                &["platform-admins"],
                "delete",
                "nodes",
                "",
                "gpu-node-1",
            ),
            Allowed(Platform),
        ),
        (
            url("pat", &["platform-admins"], "get", "/debug/pprof/heap"),
            Allowed(Platform),
        ),
        (
            resource(
                "carl",
                &[],
                "create",
                "customresourcedefinitions.apiextensions.k8s.io",
                "",
                "",
            ),
            Allowed(Cluster),
        ),
        (url("sam", &["sre"], "get", "/metrics"), Allowed(Cluster)),
        (
            resource("sam", &["sre"], "list", "pods", "team-b-dev", ""),
            Allowed(Cluster),
        ),
        (
            resource(
                "carol",
                &[],
                "delete",
                "deployments.apps",
                "team-a-prod",
                "api",
            ),
            Allowed(Workspace),
        ),
        (
            resource(
                "carol",
                &[],
                "patch",
                "workspaces.scope.theriseunion.io",
                "",
                "team-a",
            ),
            Allowed(Workspace),
        ),
        (
            resource(
                "vera",
                &["team-a-viewers"],
                "list",
                "pods",
                "team-a-dev",
                "",
            ),
            Allowed(Workspace),
        ),
        (
            resource("dave", &[], "create", "pods/exec", "team-b-dev", "search-0"),
            Allowed(Workspace),
        ),
        (
            resource("olga", &[], "patch", "nodes", "", "gpu-node-2"),
            Allowed(NodeGroup),
        ),
        (
            resource(
                "dan",
                &["team-a-devs"],
                "create",
                "deployments.apps",
                "team-a-dev",
                "",
            ),
            Allowed(Namespace),
        ),
        (
            resource(
                ci_bot,
                &ci_groups,
                "update",
                "deployments.apps",
                "team-b-dev",
                "search",
            ),
            Allowed(Namespace),
        ),
        (
            resource("erin", &[], "create", "pods/exec", "team-a-dev", "ide-erin"),
            Allowed(Resource),
        ),
        (
            resource("erin", &[], "get", "pods/log", "team-a-dev", "ide-erin"),
            Allowed(Resource),
        ),
        // No opinion.
        (
            resource("carol", &[], "delete", "pods", "team-b-dev", "search-0"),
            NoOpinion,
        ),
        (
            resource(
                "vera",
                &["team-a-viewers"],
                "delete",
                "pods",
                "team-a-dev",
                "api-0",
            ),
            NoOpinion,
        ),
        (
            resource("olga", &[], "patch", "nodes", "", "cpu-node-1"),
            NoOpinion,
        ),
        (
            resource(
                "erin",
                &[],
                "create",
                "pods/exec",
                "team-a-dev",
                "ide-carol",
            ),
            NoOpinion,
        ),
        (
            resource("frank", &[], "list", "pods", "team-a-dev", ""),
            NoOpinion,
        ),
        (
            resource(ci_bot, &ci_groups, "delete", "namespaces", "", "team-b-dev"),
            NoOpinion,
        ),
        (
            resource("mallory", &[], "get", "secrets", "team-a-prod", "db"),
            NoOpinion,
        ),
        (url("dan", &["team-a-devs"], "get", "/metrics"), NoOpinion),
    ];
    list.into_iter()
        .map(|(request, expected)| LabelledRequest { request, expected })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use scopegate_core::{Decision, PolicyOptions};
    use std::path::Path;

    #[test]
    fn demo_requests_get_the_expected_answers() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies");
        let (policy, _) =
            scopegate_core::load::load_policy(&[dir], &PolicyOptions::default()).unwrap();
        for r in demo_requests() {
            let decision = policy.decide(&r.request);
            match (r.expected, &decision) {
                (Expected::Allowed(kind), Decision::Allowed(a)) => {
                    assert_eq!(a.grant.scope.kind(), kind, "{:?}: {decision}", r.request)
                }
                (Expected::NoOpinion, Decision::NoOpinion) => {}
                _ => panic!("{:?}: expected {:?}, got {decision}", r.request, r.expected),
            }
        }
    }
}
