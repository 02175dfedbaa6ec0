//! The HTTP surface: `POST /authorize` and `POST /explain` take a SubjectAccessReview;
//! `/healthz`, `/readyz` and `/metrics` are for the platform. Handlers are thin: read the
//! body within limits, decode, ask the engine, answer.

use super::errors::ApiError;
use super::metrics::{RejectionLabel, ResultLabel};
use super::state::{AppState, ServedFrom, rfc3339};
use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use scopegate_core::sar::{self, Review, ReviewStatus};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// The largest body accepted: a SubjectAccessReview is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The webhook's routes over its shared state.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/authorize", post(authorize).fallback(method_not_allowed))
        .route("/explain", post(explain).fallback(method_not_allowed))
        .route("/healthz", get(healthz).fallback(method_not_allowed))
        .route("/readyz", get(readyz).fallback(method_not_allowed))
        .route("/metrics", get(metrics).fallback(method_not_allowed))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(uri.path())
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Reads a review from the request: JSON content type, at most MAX_BODY_BYTES, within the
/// body timeout, and a valid SubjectAccessReview.
async fn read_review(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Review, ApiError> {
    let rejected = |reason: &'static str| {
        state
            .metrics
            .rejected
            .get_or_create(&RejectionLabel { reason })
            .inc()
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        rejected("unsupported_media_type");
        return Err(ApiError::unsupported_media_type(content_type));
    }
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared_length.is_some_and(|n| n > MAX_BODY_BYTES) {
        rejected("too_large");
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    let limited = http_body_util::Limited::new(body, MAX_BODY_BYTES);
    let bytes: Bytes = match tokio::time::timeout(state.body_timeout, limited.collect()).await {
        Err(_) => {
            rejected("body_timeout");
            return Err(ApiError::body_timeout());
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            rejected("too_large");
            return Err(ApiError::too_large(MAX_BODY_BYTES));
        }
        Ok(Err(e)) => {
            rejected("bad_body");
            return Err(ApiError::bad_request(format!(
                "the body could not be read: {e}"
            )));
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    sar::decode(&bytes).map_err(|e| {
        rejected("bad_request");
        ApiError::bad_request(e.to_string())
    })
}

/// Holds a place among the requests in flight, and counts it in the gauge.
struct InFlight<'a> {
    state: &'a AppState,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl<'a> InFlight<'a> {
    fn enter(state: &'a AppState) -> Result<Self, ApiError> {
        match state.in_flight.try_acquire() {
            Ok(permit) => {
                state.metrics.in_flight.inc();
                Ok(InFlight {
                    state,
                    _permit: permit,
                })
            }
            Err(_) => {
                state
                    .metrics
                    .rejected
                    .get_or_create(&RejectionLabel {
                        reason: "overloaded",
                    })
                    .inc();
                Err(ApiError::overloaded())
            }
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.state.metrics.in_flight.dec();
    }
}

async fn authorize(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let _in_flight = InFlight::enter(&state)?;
    let review = read_review(&state, &headers, body).await?;
    let started = Instant::now();
    let decided = state.engine.decide_with(&review.request, |answer| {
        let latency = started.elapsed();
        let result = if answer.decision.is_allowed() {
            "allowed"
        } else {
            "no_opinion"
        };
        let label = ResultLabel {
            result,
            tier: answer.tier.as_str(),
        };
        state.metrics.decisions.get_or_create(&label).inc();
        state
            .metrics
            .decision_seconds
            .observe(latency.as_secs_f64());
        state.decision_log.record(&review.request, answer, latency);
        ReviewStatus::from_decision(answer.decision)
    });
    let status = match decided {
        Ok(status) => status,
        Err(not_loaded) => {
            let label = ResultLabel {
                result: "error",
                tier: "none",
            };
            state.metrics.decisions.get_or_create(&label).inc();
            ReviewStatus::from_error(not_loaded.to_string())
        }
    };
    // The reply writes the request's members back as received: no JSON tree is built.
    Ok(Json(review.reply(&status)).into_response())
}

async fn explain(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let _in_flight = InFlight::enter(&state)?;
    let review = read_review(&state, &headers, body).await?;
    match state.engine.explain(&review.request) {
        Ok((explanation, answer)) => Ok(Json(json!({
            "generation": answer.generation,
            "explanation": explanation,
        }))
        .into_response()),
        Err(not_loaded) => Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "NotReady", "message": not_loaded.to_string() })),
        )
            .into_response()),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let last_error = state
        .last_reload_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let cluster_source = state
        .cluster
        .as_ref()
        .map(|cluster| json!({ "cluster": cluster.status_json() }));
    let (Some(loaded), Some(snapshot)) = (state.loaded.load_full(), state.engine.snapshot()) else {
        let mut answer = json!({
            "ready": false,
            "policyProblems": state.problems.to_json(),
            "lastReloadError": last_error,
        });
        if let (Some(source), Some(fields)) = (cluster_source, answer.as_object_mut()) {
            fields.insert("source".into(), source);
        }
        return (StatusCode::SERVICE_UNAVAILABLE, Json(answer)).into_response();
    };
    let objects: std::collections::BTreeMap<String, usize> = snapshot
        .policy
        .object_counts()
        .iter()
        .map(|(k, n)| (k.to_string(), *n))
        .collect();
    // With a cluster to watch: not ready until every kind has been listed once, unless the
    // last-known-good snapshot is served meanwhile (the API server could not be reached); a
    // failing watch afterwards leaves it ready, since it keeps deciding on what it holds.
    let ready = state
        .cluster
        .as_ref()
        .is_none_or(|cluster| cluster.is_synced() || loaded.from == ServedFrom::Snapshot);
    let mut answer = json!({
        "ready": ready,
        "generation": snapshot.generation,
        "loadedAt": rfc3339(loaded.loaded_at),
        "servingFrom": loaded.from,
        "objects": objects,
        "policyProblems": state.problems.to_json(),
        "cache": state.engine.cache_stats(),
        "lastReloadError": last_error,
    });
    if let (Some(source), Some(fields)) = (cluster_source, answer.as_object_mut()) {
        fields.insert("source".into(), source);
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(answer)).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
