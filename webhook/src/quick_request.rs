//! Requests written with flags (`--user alice --verb get --resource pods -n a1`), for people.

use crate::args::RequestArgs;
use anyhow::{Context, bail};
use scopegate_core::{Request, ResourceAttributes};

impl RequestArgs {
    /// Whether any request flag was given at all.
    pub fn is_given(&self) -> bool {
        self.user.is_some()
            || !self.groups.is_empty()
            || self.verb.is_some()
            || self.resource.is_some()
            || self.path.is_some()
    }

    /// The request these flags describe, or what is missing.
    pub fn to_request(&self) -> anyhow::Result<Request> {
        let user = self.user.clone().unwrap_or_default();
        if user.is_empty() && self.groups.is_empty() {
            bail!("--user (or at least one --group) is required");
        }
        let verb = self.verb.clone().context("--verb is required")?;
        let request = match (&self.resource, &self.path) {
            (Some(resource), None) => Request::resource(
                user,
                ResourceAttributes {
                    verb,
                    group: self.api_group.clone(),
                    resource: resource.clone(),
                    subresource: self.subresource.clone().unwrap_or_default(),
                    name: self.name.clone().unwrap_or_default(),
                    namespace: self.namespace.clone().unwrap_or_default(),
                    ..Default::default()
                },
            ),
            (None, Some(path)) => Request::non_resource(user, verb, path.clone()),
            _ => bail!("exactly one of --resource or --path is required"),
        };
        Ok(request.with_groups(self.groups.iter().cloned()))
    }
}
