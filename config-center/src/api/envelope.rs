//! The JSON envelope `{"code":0,"message":"success","data":...}`, errors in the same shape, and
//! extractors whose rejections say what to fix in that shape too.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// A successful answer: `{"code":0,"message":"success","data":...}`.
pub(crate) fn ok<T: Serialize>(data: T) -> Response {
    Json(serde_json::json!({"code": 0, "message": "success", "data": data})).into_response()
}

/// An answer with `status`, and the status as the non-zero code.
pub(crate) fn fail(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({
        "code": status.as_u16(),
        "message": message.into(),
        "data": null,
    });
    (status, Json(body)).into_response()
}

/// An error of the API: the domain's, or a request that could not be read.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.0 {
            Error::NotFound(m) => fail(StatusCode::NOT_FOUND, m),
            Error::Conflict(m) => fail(StatusCode::CONFLICT, m),
            Error::Invalid(m) => fail(StatusCode::BAD_REQUEST, m),
            Error::Unavailable(m) => fail(StatusCode::SERVICE_UNAVAILABLE, m),
            Error::Storage(e) => {
                tracing::error!(error = %e, "storage failed");
                let status = if e.is_transient() {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                fail(status, format!("storage failed: {e}"))
            }
        }
    }
}

/// `Result` of a handler.
pub(crate) type ApiResult = Result<Response, ApiError>;

fn invalid(message: String) -> ApiError {
    ApiError(Error::Invalid(message))
}

/// A JSON body; a bad one is a 400 in the envelope saying what is wrong.
pub(crate) struct Body<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(invalid(json_problem(&rejection))),
        }
    }
}

fn json_problem(rejection: &JsonRejection) -> String {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "send the body as JSON with Content-Type: application/json".into()
        }
        other => format!("invalid JSON body: {}", other.body_text()),
    }
}

/// Path parameters; a bad one is a 400 in the envelope.
pub(crate) struct PathParams<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParams(value)),
            Err(rejection) => Err(invalid(path_problem(&rejection))),
        }
    }
}

fn path_problem(rejection: &PathRejection) -> String {
    format!("invalid path: {}", rejection.body_text())
}

/// Query parameters; a bad one is a 400 in the envelope.
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryParams(value)),
            Err(rejection) => Err(invalid(query_problem(&rejection))),
        }
    }
}

pub(super) fn query_problem(rejection: &QueryRejection) -> String {
    format!("invalid query: {}", rejection.body_text())
}

/// The connection's peer address, when the server records it (`ConnectInfo`).
pub(crate) struct Peer(pub(crate) Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(Peer(peer))
    }
}

/// The client gray rules are matched against: `ip` (else the peer's address) and the
/// comma-separated `label`s it sent.
pub(crate) fn client_id(
    ip: Option<&str>,
    labels: Option<&str>,
    peer: &Peer,
) -> Result<crate::ClientId, ApiError> {
    let ip = match ip.filter(|ip| !ip.is_empty()) {
        Some(ip) => Some(
            ip.parse()
                .map_err(|_| invalid(format!("ip {ip:?} is not an IP address")))?,
        ),
        None => peer.0,
    };
    let labels = labels
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(crate::ClientId { ip, labels })
}

/// Who is writing: the `X-Keel-User` header, or `anonymous`.
pub(crate) fn actor(headers: &axum::http::HeaderMap) -> String {
    headers
        .get("x-keel-user")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .unwrap_or("anonymous")
        .to_owned()
}
