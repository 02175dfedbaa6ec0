//! The ops listener (`serve --ops-listen`): `/healthz`, `/readyz` and `/metrics` over plain
//! HTTP, for the kubelet's probes and Prometheus, which cannot present the client certificate
//! the webhook port demands with `--client-ca`. It serves the webhook's own router, with the
//! same handlers and state, behind a filter that answers 404 for everything else: decisions
//! (`/authorize`, `/explain`) are never served without TLS.

use super::errors::ApiError;
use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The only paths the ops listener serves.
pub const OPS_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// `app` (the webhook's router) restricted to [`OPS_PATHS`]; methods other than GET on them
/// are refused by `app` itself, as on the webhook port.
pub fn router(app: Router) -> Router {
    app.layer(axum::middleware::from_fn(only_ops_paths))
}

/// Passes requests for [`OPS_PATHS`] on; answers 404 for any other path.
async fn only_ops_paths(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if OPS_PATHS.contains(&path) {
        next.run(request).await
    } else {
        ApiError::not_found(path).into_response()
    }
}
