//! Errors the webhook answers with: a status code and a JSON body saying what is wrong.
//! None of them is ever an allow.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A request the webhook refuses to decide.
#[derive(Debug, Serialize)]
pub struct ApiError {
    /// The HTTP status.
    #[serde(skip)]
    pub status: StatusCode,
    /// A stable machine-readable code, e.g. `InvalidRequest`.
    pub error: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

impl ApiError {
    /// 400: the body is not a SubjectAccessReview Scopegate can decide.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "InvalidRequest",
            message: message.into(),
        }
    }

    /// 413: the body is larger than allowed.
    pub fn too_large(limit: usize) -> Self {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            error: "RequestTooLarge",
            message: format!("the body is larger than {limit} bytes"),
        }
    }

    /// 415: the body is not declared as JSON.
    pub fn unsupported_media_type(found: &str) -> Self {
        ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            error: "UnsupportedMediaType",
            message: format!("Content-Type must be application/json, not {found:?}"),
        }
    }

    /// 408: the client did not send its body in time.
    pub fn body_timeout() -> Self {
        ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            error: "RequestTimeout",
            message: "the body was not received in time".into(),
        }
    }

    /// 503: too many requests in flight; the client should retry (kube-apiserver will fall
    /// back to its failure policy, NoOpinion).
    pub fn overloaded() -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "Overloaded",
            message: "too many requests in flight, retry later".into(),
        }
    }

    /// 404: no such endpoint.
    pub fn not_found(path: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            error: "NotFound",
            message: format!("no endpoint at {path}"),
        }
    }

    /// 405: the endpoint exists but not for this method.
    pub fn method_not_allowed() -> Self {
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            error: "MethodNotAllowed",
            message: "method not allowed on this endpoint".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}
