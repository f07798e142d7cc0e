//! Errors as Nacos's naming module writes them: a status and a plain-text message, without
//! keel's JSON envelope (Nacos clients look at the status, and people read the text).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The Content-Type of Nacos's text answers (`ok` and error messages).
pub(crate) const TEXT_PLAIN: &str = "text/plain;charset=UTF-8";

/// A failed Nacos request.
#[derive(Debug)]
pub(crate) struct NacosError {
    status: StatusCode,
    message: String,
}

impl NacosError {
    /// 400 with `message`, what Nacos answers to bad parameters.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        NacosError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404 with `message`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        NacosError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// 500 in Nacos's shape for unexpected failures (`caused: <msg>;`). Clients such as
    /// nacos-sdk-python try another server on a 5xx, which is right for a store outage.
    pub(crate) fn internal(message: impl std::fmt::Display) -> Self {
        NacosError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("caused: {message};"),
        }
    }

    /// 400 in the config module's shape (`caused: <msg>;`), Nacos's answer to bad config
    /// parameters.
    pub(crate) fn caused(message: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("caused: {message};"))
    }

    /// `status` with `message` as it is.
    pub(crate) fn status(status: StatusCode, message: impl Into<String>) -> Self {
        NacosError {
            status,
            message: message.into(),
        }
    }

    /// Nacos 2.3's parameter checker refusing a name.
    pub(crate) fn illegal(name: &str) -> Self {
        Self::bad_request(format!(
            "Param '{name}' is illegal, illegal characters should not appear in the param."
        ))
    }

    /// The `Param '<name>' is required.` answer of Nacos's `WebUtils.required`.
    pub(crate) fn required(name: &str) -> Self {
        Self::bad_request(format!("Param '{name}' is required."))
    }

    /// The `Parameter '<name>' is missing` answer to a missing Spring `@RequestParam`.
    pub(crate) fn missing(name: &str) -> Self {
        Self::bad_request(format!("Parameter '{name}' is missing"))
    }
}

impl From<keel_registry::Error> for NacosError {
    /// The answer to a registry error no handler gave a Nacos-specific text to.
    fn from(e: keel_registry::Error) -> Self {
        use keel_registry::Error;
        match &e {
            Error::Invalid(_) | Error::Conflict(_) => Self::bad_request(e.to_string()),
            Error::NotFound(_) | Error::UnknownInstance(_) => Self::not_found(e.to_string()),
            Error::Forbidden(_) => NacosError {
                status: StatusCode::FORBIDDEN,
                message: e.to_string(),
            },
            _ => Self::internal(e),
        }
    }
}

impl From<keel_config_center::Error> for NacosError {
    /// The config module's answer to a config center error: `caused: <msg>;` with 400 for bad
    /// input, 404 for what is missing, 409 for conflicts, 500 for outages.
    fn from(e: keel_config_center::Error) -> Self {
        use keel_config_center::Error;
        let status = match &e {
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::status(status, format!("caused: {e};"))
    }
}

impl IntoResponse for NacosError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, error = %self.message, "nacos request failed");
        }
        (
            self.status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN))],
            self.message,
        )
            .into_response()
    }
}

/// `Result` of the Nacos handlers.
pub(crate) type NacosResult<T = Response> = Result<T, NacosError>;
