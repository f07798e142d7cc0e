//! With auth on, every Nacos call but login needs a valid token: from the `Authorization:
//! Bearer` header, else the `accessToken` query or form parameter (Nacos's `resolveToken`).
//! A missing or bad one gets 403 and Spring's error JSON, as Nacos's `AuthFilter` answers.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::token::{self, Refused};
use crate::NacosSettings;
use crate::params::Params;

/// Largest form body read to find a token (as the handlers read them).
const MAX_FORM_BYTES: usize = 1 << 20;

/// The middleware: passes the request on when auth is off or its token is valid.
pub(crate) async fn guard(
    State(settings): State<Arc<NacosSettings>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(auth) = &settings.auth else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_owned();
    let (request, token) = match find_token(request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let verdict = match token {
        None => Err(Refused::UserNotFound),
        Some(token) => token::verify(auth.secret(), &token).and_then(|user| {
            if auth.has_user(&user) {
                Ok(())
            } else {
                Err(Refused::UserNotFound)
            }
        }),
    };
    match verdict {
        Ok(()) => next.run(request).await,
        Err(refused) => forbidden(&path, refused.message()),
    }
}

/// The token of `request`, and the request to pass on (its form body read and put back).
pub(crate) async fn find_token(request: Request) -> Result<(Request, Option<String>), Response> {
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    if header.is_some() {
        return Ok((request, header));
    }
    let from_query = request
        .uri()
        .query()
        .map(Params::parse)
        .and_then(|p| p.optional("accessToken").map(str::to_owned));
    if from_query.is_some() || !crate::params::is_form(request.headers()) {
        return Ok((request, from_query));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("cannot read the form body: {e}"),
            )
                .into_response()
        })?;
    let token = Params::parse(&String::from_utf8_lossy(&bytes))
        .optional("accessToken")
        .map(str::to_owned);
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

/// 403 with Spring Boot's error JSON, as Nacos's auth filter answers.
pub(crate) fn forbidden(path: &str, message: &str) -> Response {
    let timestamp = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    (
        StatusCode::FORBIDDEN,
        axum::Json(json!({
            "timestamp": timestamp,
            "status": 403,
            "error": "Forbidden",
            "message": message,
            "path": path,
        })),
    )
        .into_response()
}
