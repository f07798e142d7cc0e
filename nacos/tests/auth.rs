//! Login, and with auth on the token every other call needs: from the `Authorization: Bearer`
//! header, the `accessToken` query parameter or the form body; 403 with Nacos's messages
//! without one, with a forged or expired one, or after bad credentials.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{Answer, Nacos, nacos, nacos_with};
use keel_nacos::{NacosAuth, NacosSettings};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn with_auth(ttl: Duration) -> NacosSettings {
    let mut settings = NacosSettings::default();
    settings.auth = Some(NacosAuth::new([("nacos", "s3cret"), ("ops", "pw")], SECRET).unwrap());
    settings.token_ttl = ttl;
    settings
}

impl Nacos {
    async fn login(&self, query: &str) -> Answer {
        self.call("POST", &format!("/nacos/v1/auth/login?{query}"))
            .await
    }
}

fn forbidden(answer: &Answer, message: &str) {
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    let body = answer.json();
    assert_eq!(body["status"], 403);
    assert_eq!(body["error"], "Forbidden");
    assert_eq!(body["message"], message);
    assert!(body["path"].as_str().unwrap().starts_with("/nacos/v1/"));
}

#[tokio::test]
async fn with_auth_off_any_login_gets_a_token_and_nothing_is_checked() {
    let n = nacos().await;
    let login = n.login("username=anyone&password=x").await;
    assert_eq!(login.status, StatusCode::OK);
    let body = login.json();
    assert_eq!(body["tokenTtl"], 18000);
    assert_eq!(body["username"], "anyone");
    assert_eq!(body["globalAdmin"], true);
    assert!(
        login
            .header("authorization")
            .unwrap()
            .starts_with("Bearer ")
    );
    n.call("GET", "/nacos/v1/cs/configs?dataId=d&group=g")
        .await
        .assert_text(StatusCode::NOT_FOUND, "config data not exist\n");
}

#[tokio::test]
async fn with_auth_on_login_checks_credentials_and_calls_need_its_token() {
    let n = nacos_with(with_auth(Duration::from_secs(60))).await;
    // F25: bad credentials.
    let bad = n.login("username=nacos&password=wrong").await;
    bad.assert_text(StatusCode::FORBIDDEN, "user not found!");
    n.login("username=nobody&password=s3cret")
        .await
        .assert_text(StatusCode::FORBIDDEN, "user not found!");
    // Good ones, in the query (py) or a form body (Java).
    let login = n.login("username=nacos&password=s3cret").await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert_eq!(login.json()["tokenTtl"], 60);
    let token = login.json()["accessToken"].as_str().unwrap().to_owned();
    let form = n
        .form("POST", "/nacos/v1/auth/login", "username=ops&password=pw")
        .await;
    assert_eq!(form.status, StatusCode::OK);
    // Without a token: 403, config and naming alike.
    forbidden(
        &n.call("GET", "/nacos/v1/cs/configs?dataId=d&group=g").await,
        "user not found!",
    );
    forbidden(
        &n.call("GET", "/nacos/v1/ns/instance/list?serviceName=s")
            .await,
        "user not found!",
    );
    // With auth on, a beat is never answered outside the router (its guard checks tokens).
    let beat = "/nacos/v1/ns/instance/beat?serviceName=s&ip=1.1.1.1&port=1";
    assert!(n.direct_beat(beat, None).await.is_none());
    forbidden(&n.call("PUT", beat).await, "user not found!");
    // With it: as a query parameter, a header, or in a form body.
    n.call(
        "POST",
        &format!("/nacos/v1/cs/configs?dataId=d&group=g&content=v&accessToken={token}"),
    )
    .await
    .assert_text(StatusCode::OK, "true");
    let read = n
        .send(
            "GET",
            "/nacos/v1/cs/configs?dataId=d&group=g",
            None,
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(read.body, "v");
    let listened = n
        .form(
            "POST",
            "/nacos/v1/cs/configs/listener",
            &format!("Listening-Configs=d%02g%02stale%02%01&accessToken={token}"),
        )
        .await;
    listened.assert_text(StatusCode::OK, "d%02g%01\n");
    // A login carrying a valid token is answered from it.
    let renewed = n.login(&format!("accessToken={token}")).await;
    assert_eq!(renewed.status, StatusCode::OK);
    // Forged and foreign tokens.
    let mut forged = token.clone();
    forged.replace_range(..1, if token.starts_with('x') { "y" } else { "x" });
    forbidden(
        &n.call(
            "GET",
            &format!("/nacos/v1/cs/configs?dataId=d&group=g&accessToken={forged}"),
        )
        .await,
        "token invalid!",
    );
    forbidden(
        &n.call(
            "GET",
            "/nacos/v1/cs/configs?dataId=d&group=g&accessToken=AUTH_DISABLED",
        )
        .await,
        "token invalid!",
    );
}

#[tokio::test]
async fn tokens_expire_and_are_valid_on_every_node_sharing_the_secret() {
    let n = nacos_with(with_auth(Duration::from_secs(1))).await;
    let token = n.login("username=nacos&password=s3cret").await.json()["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another node with the same secret accepts it (tokens are signed, not remembered).
    let other = nacos_with(with_auth(Duration::from_secs(1))).await;
    other
        .call(
            "GET",
            &format!("/nacos/v1/cs/configs?dataId=d&group=g&accessToken={token}"),
        )
        .await
        .assert_text(StatusCode::NOT_FOUND, "config data not exist\n");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    forbidden(
        &n.call(
            "GET",
            &format!("/nacos/v1/cs/configs?dataId=d&group=g&accessToken={token}"),
        )
        .await,
        "token expired!",
    );
}
