//! `/readyz` with a cluster to watch: the handler in routes.rs says what is served; this layer
//! adds how the watches are doing, under `source.cluster`, and keeps the answer 503 until
//! every kind has been listed once (unless the last-known-good snapshot is served meanwhile,
//! because the API server could not be reached).
//!
//! ```json
//! {"ready": true, "servingFrom": "cluster", ...,
//!  "source": {"cluster": {"synced": true, "healthy": false, "failing": ["IAMRoleBinding"],
//!                         "since": "...", "lastError": {"kind": "...", "message": "...", "at": "..."},
//!                         "kinds": {...}}}}
//! ```
//!
//! A failing watch leaves the webhook ready (200): it keeps deciding on what it holds.

use super::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;

/// The largest `/readyz` body this layer reads back: far more than it ever is.
const MAX_READYZ_BYTES: usize = 1024 * 1024;

/// Adds the watches' state to `GET /readyz`; passes every other request through.
pub async fn with_watch_status(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let is_readyz = request.method() == Method::GET && request.uri().path() == "/readyz";
    let Some(cluster) = state.cluster.as_ref().filter(|_| is_readyz) else {
        return next.run(request).await;
    };
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let Ok(collected) = http_body_util::Limited::new(body, MAX_READYZ_BYTES)
        .collect()
        .await
    else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot read the readiness",
        )
            .into_response();
    };
    let bytes = collected.to_bytes();
    let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let from_snapshot = answer.get("servingFrom") == Some(&json!("snapshot"));
    let ready = parts.status == StatusCode::OK && (cluster.is_synced() || from_snapshot);
    if let Some(fields) = answer.as_object_mut() {
        fields.insert("ready".into(), json!(ready));
        fields.insert("source".into(), json!({ "cluster": cluster.status_json() }));
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(answer)).into_response()
}
