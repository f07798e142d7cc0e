//! The registry's answers in the JSON envelope `{"code":0,"message":"success","data":...}`,
//! its errors in the same shape, and the request parts every handler reads (tenant, token,
//! JSON body, query pairs).

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{DEFAULT_TENANT, Error};

/// The envelope code of a heartbeat for an instance the registry does not know: register
/// again. (The HTTP status is 404; the code tells it apart from an unknown endpoint.)
pub const CODE_REGISTER_AGAIN: u16 = 20404;

/// A successful answer.
pub(crate) fn ok<T: Serialize>(data: T) -> Response {
    Json(serde_json::json!({"code": 0, "message": "success", "data": data})).into_response()
}

/// A successful answer's body, for answers cached as bytes.
pub(crate) fn ok_bytes<T: Serialize>(data: T) -> bytes::Bytes {
    serde_json::to_vec(&serde_json::json!({"code": 0, "message": "success", "data": data}))
        .map(bytes::Bytes::from)
        .unwrap_or_default()
}

/// A JSON answer from bytes made by [`ok_bytes`].
pub(crate) fn json_bytes(body: bytes::Bytes) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A failed answer: `status`, with `code` in the envelope.
pub(crate) fn fail(status: StatusCode, code: u16, message: impl Into<String>) -> Response {
    let body = serde_json::json!({"code": code, "message": message.into(), "data": null});
    (status, Json(body)).into_response()
}

/// An error of the API.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::UnknownInstance(_) => {
                return fail(
                    StatusCode::NOT_FOUND,
                    CODE_REGISTER_AGAIN,
                    self.0.to_string(),
                );
            }
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Storage(e) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %self.0, "registry request failed");
        }
        fail(status, status.as_u16(), self.0.to_string())
    }
}

/// `Result` of a handler.
pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError(Error::Invalid(message.into()))
}

/// A JSON body; a bad one is a 400 saying what is wrong (serde names the field).
pub(crate) struct Body<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(axum::extract::rejection::JsonRejection::MissingJsonContentType(_)) => Err(
                invalid("send the body as JSON with Content-Type: application/json"),
            ),
            Err(rejection) => Err(invalid(format!(
                "invalid JSON body: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// The query string as name/value pairs, in order (filters such as `metadata.zone=a` have
/// names that are not known in advance).
pub(crate) struct Pairs(pub(crate) Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Pairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<Vec<(String, String)>>::from_request_parts(parts, state).await
        {
            Ok(axum::extract::Query(pairs)) => Ok(Pairs(pairs)),
            Err(rejection) => Err(invalid(format!("invalid query: {}", rejection.body_text()))),
        }
    }
}

impl Pairs {
    /// The last value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A number parameter, `default` when absent.
    pub(crate) fn number<T: std::str::FromStr>(
        &self,
        name: &str,
        default: T,
    ) -> Result<T, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| invalid(format!("{name}={v:?} is not a valid number"))),
        }
    }
}

/// The caller's tenant (`X-Tenant-Id`, default `default`) and bearer token.
pub(crate) struct Caller {
    pub(crate) tenant: String,
    pub(crate) token: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        caller(&parts.headers)
    }
}

fn caller(headers: &HeaderMap) -> Result<Caller, ApiError> {
    let tenant = match headers.get("x-tenant-id") {
        None => DEFAULT_TENANT.to_owned(),
        Some(v) => {
            let t = v
                .to_str()
                .map_err(|_| invalid("X-Tenant-Id must be ASCII"))?
                .trim();
            let t = if t.is_empty() { DEFAULT_TENANT } else { t };
            crate::validate_name("X-Tenant-Id", t)?;
            t.to_owned()
        }
    };
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    Ok(Caller { tenant, token })
}
