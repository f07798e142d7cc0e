//! `POST /nacos/v1/auth/login` (and `/nacos/v1/auth/users/login`), and the token check of
//! every other call.
//!
//! Auth off (the default): every request is served whatever token it carries, and login
//! answers a fresh random token for any credentials. It must answer: nacos-sdk-python logs in
//! from its constructor whenever credentials are configured, and a refusal there makes the
//! client fail to start. (Nacos itself checks the credentials even with auth off.)
//!
//! Auth on ([`crate::NacosAuth`]): login checks the credentials (or a token the request
//! already carries) and answers a signed token (`token`); `guard` refuses calls without a
//! valid one.

mod guard;
mod token;

pub(crate) use guard::guard;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;

use crate::NacosSettings;
use crate::error::TEXT_PLAIN;
use crate::params::Params;

/// The login answer, in Nacos 2.5's field order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Token {
    access_token: String,
    /// Seconds.
    token_ttl: u64,
    global_admin: bool,
    username: String,
}

/// The login routes.
pub(crate) fn routes(settings: Arc<NacosSettings>) -> Router {
    Router::new()
        .route("/nacos/v1/auth/login", post(login))
        .route("/nacos/v1/auth/users/login", post(login))
        .with_state(settings)
}

async fn login(State(settings): State<Arc<NacosSettings>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let (request, carried) = match guard::find_token(request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let params = match Params::from_request(request, &()).await {
        Ok(params) => params,
        Err(e) => return e.into_response(),
    };
    let username = params.get("username").unwrap_or_default().to_owned();
    let token = match &settings.auth {
        None => new_token(),
        Some(auth) => {
            // A request that already carries a token is checked by that token (as Nacos does).
            let user = match carried {
                Some(carried) => match token::verify(auth.secret(), &carried) {
                    Ok(user) if auth.has_user(&user) => Some(user),
                    Ok(_) => None,
                    Err(refused) => return guard::forbidden(&path, refused.message()),
                },
                None => auth
                    .check(&username, params.get("password").unwrap_or_default())
                    .then(|| username.clone()),
            };
            match user {
                Some(user) => token::issue(auth.secret(), &user, settings.token_ttl),
                None => {
                    return (
                        StatusCode::FORBIDDEN,
                        [(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN))],
                        "user not found!",
                    )
                        .into_response();
                }
            }
        }
    };
    let answer = Token {
        access_token: token.clone(),
        token_ttl: settings.token_ttl.as_secs(),
        global_admin: true,
        username,
    };
    let mut response = axum::Json(answer).into_response();
    // Nacos also hands the token back as a header; clients that read it find it there.
    if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
        response.headers_mut().insert(header::AUTHORIZATION, value);
    }
    response
}

/// 128 random bits as hex: opaque, like every token clients are given.
fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}
