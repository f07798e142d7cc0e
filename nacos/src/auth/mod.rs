//! `POST /nacos/v1/auth/login` (and `/nacos/v1/auth/users/login`).
//!
//! Auth is off (the only mode for now): every request is served whatever token it carries, and
//! login answers a fresh token for any credentials. It must answer: nacos-sdk-python logs in
//! from its constructor whenever credentials are configured, and a refusal there makes the
//! client fail to start. (Nacos itself checks the credentials even with auth off.)

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;

use crate::NacosSettings;
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

async fn login(State(settings): State<Arc<NacosSettings>>, params: Params) -> Response {
    let token = new_token();
    let answer = Token {
        access_token: token.clone(),
        token_ttl: settings.token_ttl.as_secs(),
        global_admin: true,
        username: params.get("username").unwrap_or_default().to_owned(),
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
