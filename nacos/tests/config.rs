//! The Nacos config endpoints end to end through the axum Router, on a SQLite file and the
//! standalone coord, with the wire fixtures of docs/nacos-wire.md §10 (F1–F16) and the requests
//! nacos-sdk-python 0.1.17 sends (§7.1): exact bodies and headers, MD5s, properties text kept
//! byte for byte, compare-and-set, beta publish, the listener protocol, history, and that a
//! config published through Nacos is a native release and the other way round.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{Answer, Nacos, nacos};
use serde_json::{Value, json};

const CS: &str = "/nacos/v1/cs/configs";

fn md5(text: &str) -> String {
    keel_config_center::document::md5_hex(text)
}

impl Nacos {
    async fn publish(&self, query: &str) -> Answer {
        self.call("POST", &format!("{CS}?{query}")).await
    }

    async fn get(&self, query: &str) -> Answer {
        self.call("GET", &format!("{CS}?{query}")).await
    }

    /// A config call with the parameters `query` and one header.
    async fn cs(&self, method: &str, query: &str, header: (&str, &str)) -> Answer {
        self.send(method, &format!("{CS}?{query}"), None, &[header])
            .await
    }

    /// A listener poll of `records` held in the background (30 s timeout); its answer's body.
    fn park(&self, records: &str) -> tokio::task::JoinHandle<String> {
        let router = self.router.clone();
        let body = format!("Listening-Configs={records}");
        tokio::spawn(async move {
            let request = axum::http::Request::post(format!("{CS}/listener"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("Long-Pulling-Timeout", "30000")
                .body(axum::body::Body::from(body))
                .unwrap();
            let response = tower::ServiceExt::oneshot(router, request).await.unwrap();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            String::from_utf8(body.to_vec()).unwrap()
        })
    }

    /// A listener poll of `records` (already `%02`/`%01`-encoded) with `headers`.
    async fn listen(&self, records: &str, headers: &[(&str, &str)]) -> Answer {
        let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        self.send(
            "POST",
            &format!("{CS}/listener"),
            Some(&format!("Listening-Configs={records}")),
            &all,
        )
        .await
    }
}

fn assert_true(answer: &Answer) {
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "true"),
        "{}",
        answer.body
    );
    assert_eq!(answer.content_type(), "application/json");
}

#[tokio::test]
async fn publish_get_and_delete_answer_as_nacos() {
    let n = nacos().await;
    // F1: a form body, as the Java client sends it.
    let published = n
        .form(
            "POST",
            CS,
            "dataId=nacos.example&group=com.alibaba.nacos&content=contentTest",
        )
        .await;
    assert_true(&published);
    // F2.
    let read = n.get("dataId=nacos.example&group=com.alibaba.nacos").await;
    assert_eq!(
        (read.status, read.body.as_str()),
        (StatusCode::OK, "contentTest")
    );
    assert_eq!(read.content_type(), "text/plain;charset=UTF-8");
    assert_eq!(read.header("config-type"), Some("text"));
    assert_eq!(
        read.header("content-md5"),
        Some("9f67e6977b100e00cab385a75597db58")
    );
    assert_eq!(read.header("cache-control"), Some("no-cache,no-store"));
    assert_eq!(read.header("pragma"), Some("no-cache"));
    assert!(read.header("last-modified").unwrap().ends_with(" GMT"));
    assert!(read.header("isbeta").is_none());
    // F3.
    let missing = n.get("dataId=missing&group=g").await;
    missing.assert_text(StatusCode::NOT_FOUND, "config data not exist\n");
    // F4: present, then absent.
    assert_true(
        &n.call(
            "DELETE",
            &format!("{CS}?dataId=nacos.example&group=com.alibaba.nacos"),
        )
        .await,
    );
    n.get("dataId=nacos.example&group=com.alibaba.nacos")
        .await
        .assert_text(StatusCode::NOT_FOUND, "config data not exist\n");
    assert_true(
        &n.call(
            "DELETE",
            &format!("{CS}?dataId=nacos.example&group=com.alibaba.nacos"),
        )
        .await,
    );
}

#[tokio::test]
async fn properties_are_kept_byte_for_byte_and_read_natively_as_items() {
    let n = nacos().await;
    // nacos-sdk-python's publish (§7.1), content in the URL.
    assert_true(
        &n.publish("dataId=d1&group=DEFAULT_GROUP&content=a%3D1%0Ab+%3D+2&type=properties")
            .await,
    );
    let read = n.get("dataId=d1&group=DEFAULT_GROUP").await;
    assert_eq!(read.body, "a=1\nb = 2");
    assert_eq!(read.header("config-type"), Some("properties"));
    assert_eq!(read.header("content-md5"), Some(md5("a=1\nb = 2").as_str()));
    // Natively: env `public`, app DEFAULT_GROUP, cluster default, namespace d1, as items.
    let native = n
        .native(
            "GET",
            "/api/v1/envs/public/apps/DEFAULT_GROUP/clusters/default/namespaces/d1/configs",
            None,
        )
        .await;
    assert_eq!(native["configs"], json!({"a": "1", "b": "2"}));
    let items = n
        .native(
            "GET",
            "/api/v1/envs/public/apps/DEFAULT_GROUP/clusters/default/namespaces/d1/items",
            None,
        )
        .await;
    assert_eq!(items.as_array().unwrap().len(), 2, "{items}");
    // Comments, continuations, escapes and Unicode survive; the items are what Java reads.
    let text = "# db\nurl = jdbc:x\\\n  ?ssl=true\nname=caf\\u00e9 ü\n";
    let encoded: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
    assert_true(
        &n.publish(&format!(
            "dataId=d1&group=DEFAULT_GROUP&type=properties&content={encoded}"
        ))
        .await,
    );
    assert_eq!(n.get("dataId=d1&group=DEFAULT_GROUP").await.body, text);
    let native = n
        .native(
            "GET",
            "/api/v1/envs/public/apps/DEFAULT_GROUP/clusters/default/namespaces/d1/configs",
            None,
        )
        .await;
    assert_eq!(
        native["configs"],
        json!({"url": "jdbc:x?ssl=true", "name": "café ü"})
    );
}

#[tokio::test]
async fn native_releases_are_read_through_nacos() {
    let n = nacos().await;
    let base = "/api/v1/envs/public/apps/shop";
    n.native(
        "POST",
        "/api/v1/envs/public/apps",
        Some(json!({"name": "shop"})),
    )
    .await;
    // An app's `application` namespace has no release yet: it does not exist for Nacos.
    n.get("dataId=application&group=shop")
        .await
        .assert_text(StatusCode::NOT_FOUND, "config data not exist\n");
    let ns = format!("{base}/clusters/default/namespaces/application");
    for (k, v) in [("b", "2"), ("a", "x=y")] {
        n.native(
            "POST",
            &format!("{ns}/items"),
            Some(json!({"key": k, "value": v})),
        )
        .await;
    }
    n.native(
        "POST",
        &format!("{ns}/releases"),
        Some(json!({"name": "r1"})),
    )
    .await;
    let read = n.get("dataId=application&group=shop").await;
    // Rendered as Properties.store writes it, sorted by key.
    assert_eq!(read.body, "a=x\\=y\nb=2\n");
    assert_eq!(read.header("config-type"), Some("properties"));
    assert_eq!(
        read.header("content-md5"),
        Some(md5("a=x\\=y\nb=2\n").as_str())
    );
    // A JSON namespace reads as its document, with JSON's content type.
    n.native(
        "POST",
        &format!("{base}/clusters/default/namespaces"),
        Some(json!({"name": "app.json", "format": "json"})),
    )
    .await;
    let js = format!("{base}/clusters/default/namespaces/app.json");
    n.native(
        "POST",
        &format!("{js}/items"),
        Some(json!({"key": "content", "value": "{\"k\": 1}"})),
    )
    .await;
    n.native("POST", &format!("{js}/releases"), Some(json!({})))
        .await;
    let read = n.get("dataId=app.json&group=shop").await;
    assert_eq!(read.body, "{\"k\": 1}");
    assert_eq!(read.content_type(), "application/json;charset=UTF-8");
    assert_eq!(read.header("config-type"), Some("json"));
}

#[tokio::test]
async fn types_tenants_and_names_outside_keels_charset() {
    let n = nacos().await;
    assert_true(
        &n.publish("dataId=p.html&group=G&content=%3Cb%3Ehi%3C%2Fb%3E&type=html")
            .await,
    );
    let read = n.get("dataId=p.html&group=G").await;
    assert_eq!(read.body, "<b>hi</b>");
    assert_eq!(read.content_type(), "text/html;charset=UTF-8");
    assert_eq!(read.header("config-type"), Some("html"));
    // Invalid JSON is refused with where it is wrong (a deliberate difference: Nacos stores it).
    let bad = n
        .publish("dataId=c.json&group=G&content=%7Bnope&type=json")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.starts_with("caused: content is not valid json"),
        "{}",
        bad.body
    );
    // Tenants are envs; `public` is the public namespace.
    assert_true(&n.publish("dataId=t&group=G&content=dev&tenant=dev-1").await);
    assert_true(
        &n.publish("dataId=t&group=G&content=pub&tenant=public")
            .await,
    );
    assert_eq!(n.get("dataId=t&group=G&tenant=dev-1").await.body, "dev");
    assert_eq!(n.get("dataId=t&group=G").await.body, "pub");
    n.native(
        "GET",
        "/api/v1/envs/dev-1/apps/G/clusters/default/namespaces/t/configs",
        None,
    )
    .await;
    // Names with `:` (Dubbo's) get an alias natively and read back under their own name.
    assert_true(
        &n.publish("dataId=providers:com.acme.Api::&group=dubbo&content=x")
            .await,
    );
    assert_eq!(
        n.get("dataId=providers:com.acme.Api::&group=dubbo")
            .await
            .body,
        "x"
    );
    // Errors.
    let blank = n.publish("dataId=d&group=G&content=").await;
    blank.assert_text(StatusCode::BAD_REQUEST, "caused: content is blank : ;");
    let no_data_id = n.publish("group=G&content=x").await;
    assert_eq!(no_data_id.status, StatusCode::BAD_REQUEST);
    assert!(no_data_id.body.contains("'dataId'"), "{}", no_data_id.body);
    let illegal = n.get("dataId=a%20b&group=G").await;
    illegal.assert_text(
        StatusCode::BAD_REQUEST,
        "Param 'dataId' is illegal, illegal characters should not appear in the param.",
    );
    let tenant = n.get("dataId=a&group=G&tenant=a%2Fb").await;
    tenant.assert_text(StatusCode::BAD_REQUEST, "caused: invalid tenant;");
}

#[tokio::test]
async fn cas_md5_publishes_only_over_the_expected_content() {
    let n = nacos().await;
    // A missing config is created whatever casMd5 says.
    let created = n
        .cs(
            "POST",
            "dataId=c&group=G&content=v1",
            ("casMd5", "whatever"),
        )
        .await;
    assert_true(&created);
    let stale = n
        .cs(
            "POST",
            "dataId=c&group=G&content=v2",
            ("casMd5", &md5("nope")),
        )
        .await;
    // F6, with 409 for Nacos's 500 (documented).
    stale.assert_text(
        StatusCode::CONFLICT,
        "caused: Cas publish fail, server md5 may have changed.;",
    );
    assert_eq!(n.get("dataId=c&group=G").await.body, "v1");
    let fresh = n
        .cs(
            "POST",
            "dataId=c&group=G&content=v2",
            ("casMd5", &md5("v1")),
        )
        .await;
    assert_true(&fresh);
    assert_eq!(n.get("dataId=c&group=G").await.body, "v2");
}

#[tokio::test]
async fn beta_publish_serves_only_the_listed_ips() {
    let n = nacos().await;
    assert_true(&n.publish("dataId=b&group=G&content=formal").await);
    // F5.
    let beta = n
        .cs(
            "POST",
            "dataId=b&group=G&content=beta",
            ("betaIps", "10.0.0.1, 10.0.0.2"),
        )
        .await;
    assert_true(&beta);
    let as_beta = n
        .cs("GET", "dataId=b&group=G", ("x-forwarded-for", "10.0.0.2"))
        .await;
    assert_eq!(as_beta.body, "beta");
    assert_eq!(as_beta.header("isbeta"), Some("true"));
    let others = n
        .cs("GET", "dataId=b&group=G", ("x-real-ip", "10.0.0.9"))
        .await;
    assert_eq!(others.body, "formal");
    let query = n.get("dataId=b&group=G&beta=true").await.json();
    assert_eq!(query["code"], 200);
    assert_eq!(query["message"], "query beta ok");
    assert_eq!(query["data"]["content"], "beta");
    assert_eq!(query["data"]["betaIps"], "10.0.0.1,10.0.0.2");
    assert_eq!(query["data"]["md5"], md5("beta"));
    // casMd5 with betaIps compares against the beta's MD5, as Nacos does.
    let n = &n;
    let beta_cas = |content: &'static str, cas: String| async move {
        n.send(
            "POST",
            &format!("{CS}?dataId=b&group=G&content={content}"),
            None,
            &[("betaIps", "10.0.0.1"), ("casMd5", &cas)],
        )
        .await
    };
    beta_cas("beta2", md5("formal")).await.assert_text(
        StatusCode::CONFLICT,
        "caused: Cas publish fail, server md5 may have changed.;",
    );
    assert_eq!(
        n.get("dataId=b&group=G&beta=true").await.json()["data"]["content"],
        "beta"
    );
    assert_true(&beta_cas("beta2", md5("beta")).await);
    let query = n.get("dataId=b&group=G&beta=true").await.json();
    assert_eq!(query["data"]["content"], "beta2");
    assert_eq!(query["data"]["betaIps"], "10.0.0.1");
    let stop = n
        .call("DELETE", &format!("{CS}?dataId=b&group=G&beta=true"))
        .await
        .json();
    assert_eq!(
        stop,
        json!({"code": 200, "message": "stop beta ok", "data": true})
    );
    let back = n
        .cs("GET", "dataId=b&group=G", ("x-forwarded-for", "10.0.0.2"))
        .await;
    assert_eq!(back.body, "formal");
    assert!(n.get("dataId=b&group=G&beta=true").await.json()["data"].is_null());
}

#[tokio::test]
async fn the_listener_answers_changes_at_once_and_holds_otherwise() {
    let n = nacos().await;
    assert_true(
        &n.publish("dataId=d1&group=DEFAULT_GROUP&content=a%3D1&type=properties")
            .await,
    );
    let current = md5("a=1");
    // F11 (and §7.1's record from nacos-sdk-python): a stale MD5 answers at once.
    let stale = n
        .listen(
            "d1%02DEFAULT_GROUP%02stale%02%01",
            &[("Long-Pulling-Timeout", "30000")],
        )
        .await;
    stale.assert_text(StatusCode::OK, "d1%02DEFAULT_GROUP%01\n");
    // F10: the tenant is echoed as the client wrote it.
    assert_true(
        &n.publish("dataId=test0&group=test1&content=x&tenant=test2")
            .await,
    );
    n.listen(
        "test0%02test1%02stale%02test2%01",
        &[("Long-Pulling-Timeout", "30000")],
    )
    .await
    .assert_text(StatusCode::OK, "test0%02test1%02test2%01\n");
    // F13: current MD5 with No-Hangup: an empty answer at once.
    let started = Instant::now();
    let record = format!("d1%02DEFAULT_GROUP%02{current}%02%01");
    n.listen(
        &record,
        &[
            ("Long-Pulling-Timeout", "30000"),
            ("Long-Pulling-Timeout-No-Hangup", "true"),
        ],
    )
    .await
    .assert_text(StatusCode::OK, "");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Held, then woken by a publish with just that key.
    let parked = n.park(&record);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!parked.is_finished(), "the poll should be held");
    assert_true(
        &n.publish("dataId=d1&group=DEFAULT_GROUP&content=a%3D2&type=properties")
            .await,
    );
    assert_eq!(answered(parked).await, "d1%02DEFAULT_GROUP%01\n");
    // A config that does not exist yet: "" is current, and its creation wakes the poll.
    let waiting = n.park("later%02G%02%02%01");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished());
    assert_true(&n.publish("dataId=later&group=G&content=new").await);
    assert_eq!(answered(waiting).await, "later%02G%01\n");
    // A delete wakes whoever holds the config's MD5.
    let holder = n.park(&format!("later%02G%02{}%02%01", md5("new")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_true(
        &n.call("DELETE", &format!("{CS}?dataId=later&group=G"))
            .await,
    );
    assert_eq!(answered(holder).await, "later%02G%01\n");
}

/// The body a parked listener poll was answered with, within 5 s.
async fn answered(poll: tokio::task::JoinHandle<String>) -> String {
    tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn the_listener_times_out_empty_and_refuses_bad_input() {
    let n = nacos().await;
    assert_true(&n.publish("dataId=d&group=G&content=v").await);
    // F12 with the shortest hold (10 s, Nacos's floor): an empty 200.
    let started = Instant::now();
    let record = format!("d%02G%02{}%02%01", md5("v"));
    n.listen(&record, &[("Long-Pulling-Timeout", "1000")])
        .await
        .assert_text(StatusCode::OK, "");
    let held = started.elapsed();
    assert!(held >= Duration::from_secs(9), "held {held:?}");
    // Without the header: answered at once (short polling).
    n.listen(&record, &[]).await.assert_text(StatusCode::OK, "");
    // F14.
    n.listen("", &[("Long-Pulling-Timeout", "30000")])
        .await
        .assert_text(StatusCode::BAD_REQUEST, "caused: invalid probeModify;");
    n.listen("a%02b%01", &[("Long-Pulling-Timeout", "30000")])
        .await
        .assert_text(StatusCode::BAD_REQUEST, "caused: invalid probeModify;");
    n.listen(&record, &[("Long-Pulling-Timeout", "soon")])
        .await
        .assert_text(
            StatusCode::BAD_REQUEST,
            "caused: For input string: \"soon\";",
        );
}

#[tokio::test]
async fn history_lists_every_change_and_shows_each_content() {
    let n = nacos().await;
    let key = "dataId=nacos.example&group=com.alibaba.nacos";
    assert_true(
        &n.publish(&format!("{key}&content=contentTest&src_user=ann"))
            .await,
    );
    assert_true(&n.publish(&format!("{key}&content=second")).await);
    assert_true(&n.call("DELETE", &format!("{CS}?{key}")).await);
    // F15.
    let page = n
        .call(
            "GET",
            &format!("/nacos/v1/cs/history?search=accurate&{key}"),
        )
        .await
        .json();
    assert_eq!(page["totalCount"], 3);
    assert_eq!(page["pageNumber"], 1);
    assert_eq!(page["pagesAvailable"], 1);
    let items = page["pageItems"].as_array().unwrap();
    let ops: Vec<&str> = items
        .iter()
        .map(|i| i["opType"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["D", "U", "I"]);
    for item in items {
        assert!(item["id"].is_string());
        assert!(item["content"].is_null() && item["md5"].is_null());
        assert_eq!(item["dataId"], "nacos.example");
        assert_eq!(item["group"], "com.alibaba.nacos");
        assert!(item["createdTime"].as_str().unwrap().ends_with("+00:00"));
    }
    assert_eq!(items[2]["srcUser"], "ann");
    // F16: one entry by id, with its content and MD5.
    let first = items[2]["id"].as_str().unwrap();
    let entry = n
        .call(
            "GET",
            &format!("/nacos/v1/cs/history?nid={first}&tenant=&{key}"),
        )
        .await
        .json();
    assert_eq!(entry["content"], "contentTest");
    assert_eq!(entry["md5"], "9f67e6977b100e00cab385a75597db58");
    let gone = items[0]["id"].as_str().unwrap();
    let entry = n
        .call("GET", &format!("/nacos/v1/cs/history?nid={gone}&{key}"))
        .await
        .json();
    assert_eq!(entry["opType"], "D");
    assert_eq!(entry["content"], "second");
    // Another config's entry: 403; an unknown id: an empty 200.
    let other = n
        .call(
            "GET",
            &format!("/nacos/v1/cs/history?nid={first}&dataId=x&group=y"),
        )
        .await;
    other.assert_text(
        StatusCode::FORBIDDEN,
        "caused: Please check dataId, group or namespaceId.;",
    );
    n.call("GET", &format!("/nacos/v1/cs/history?nid=999999&{key}"))
        .await
        .assert_text(StatusCode::OK, "");
    // The history of a config re-created after its delete continues.
    assert_true(&n.publish(&format!("{key}&content=again")).await);
    let page: Value = n
        .call(
            "GET",
            &format!("/nacos/v1/cs/history?search=accurate&{key}&pageSize=2"),
        )
        .await
        .json();
    assert_eq!(page["totalCount"], 4);
    assert_eq!(page["pagesAvailable"], 2);
    assert_eq!(page["pageItems"][0]["opType"], "I");
}

#[tokio::test]
async fn a_nacos_publish_is_a_native_release_and_wakes_native_long_polls() {
    let n = nacos().await;
    assert_true(
        &n.publish("dataId=w&group=G&content=k%3D1&type=properties")
            .await,
    );
    let native = n
        .native(
            "GET",
            "/api/v1/envs/public/apps/G/clusters/default/namespaces/w/configs",
            None,
        )
        .await;
    let key = native["release_key"].as_str().unwrap().to_owned();
    let router = n.router.clone();
    let poll = tokio::spawn(async move {
        let request = axum::http::Request::get(format!(
            "/api/v1/envs/public/apps/G/clusters/default/namespaces/w/notifications?releaseKey={key}&timeout=20s"
        ))
        .body(axum::body::Body::empty())
        .unwrap();
        tower::ServiceExt::oneshot(router, request)
            .await
            .unwrap()
            .status()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_true(
        &n.publish("dataId=w&group=G&content=k%3D2&type=properties")
            .await,
    );
    let status = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    // The release is in the native release list, made by `nacos`.
    let releases = n
        .native(
            "GET",
            "/api/v1/envs/public/apps/G/clusters/default/namespaces/w/releases",
            None,
        )
        .await;
    assert_eq!(releases["total"], 2, "{releases}");
}

#[tokio::test]
async fn search_lists_the_configs_of_a_tenant_with_their_content() {
    let n = nacos().await;
    for (data_id, group, content) in [("a", "G1", "1"), ("b", "G1", "2"), ("a", "G2", "3")] {
        assert_true(
            &n.publish(&format!("dataId={data_id}&group={group}&content={content}"))
                .await,
        );
    }
    assert_true(
        &n.publish("dataId=a&group=G1&content=other&tenant=dev")
            .await,
    );
    let n = &n;
    let list = |query: &'static str| async move {
        n.get(&format!("search=accurate&{query}")).await.json()
    };
    let all = list("dataId=&group=&pageNo=1&pageSize=10").await;
    assert_eq!(all["totalCount"], 3);
    let names: Vec<String> = all["pageItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{}/{}={}", i["group"], i["dataId"], i["content"]))
        .collect();
    assert_eq!(
        names,
        [r#""G1"/"a"="1""#, r#""G1"/"b"="2""#, r#""G2"/"a"="3""#]
    );
    assert_eq!(all["pageItems"][0]["md5"], md5("1"));
    assert_eq!(all["pageItems"][0]["type"], "text");
    let group = list("dataId=&group=G1").await;
    assert_eq!(group["totalCount"], 2);
    let data_id = list("dataId=a&group=").await;
    assert_eq!(data_id["totalCount"], 2);
    let paged = list("dataId=&group=&pageNo=2&pageSize=2").await;
    assert_eq!(paged["pagesAvailable"], 2);
    assert_eq!(paged["pageItems"].as_array().unwrap().len(), 1);
    let dev = list("dataId=&group=&tenant=dev").await;
    assert_eq!(dev["pageItems"][0]["content"], "other");
    assert_eq!(dev["pageItems"][0]["tenant"], "dev");
    let blur = n.get("search=blur&dataId=a*&group=").await;
    assert_eq!(blur.status, StatusCode::BAD_REQUEST);
}

/// Status, headers (in order, without `content-length`) and body.
type Read = (u16, Vec<(String, String)>, String);

/// The answer of a [`keel_nacos::NacosRead`].
async fn direct(n: &Nacos, uri: &str, headers: &[(&str, &str)]) -> Option<Read> {
    let uri: axum::http::Uri = uri.parse().unwrap();
    let mut map = axum::http::HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let read =
        keel_nacos::NacosRead::from_parts(&keel_nacos::NacosSettings::default(), &uri, &map, None)?;
    let response = match read.answer(&n.center).await {
        keel_nacos::NacosReadAnswer::Found { headers, body } => {
            let lines = String::from_utf8(headers).unwrap();
            let headers = lines
                .strip_suffix("\r\n")
                .unwrap()
                .split("\r\n")
                .map(|line| {
                    let (name, value) = line.split_once(": ").unwrap();
                    (name.to_owned(), value.to_owned())
                })
                .collect();
            return Some((200, headers, body.to_string()));
        }
        keel_nacos::NacosReadAnswer::Other(response) => response,
    };
    let answer = Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: String::from_utf8(
            axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap(),
    };
    Some(read_of(&answer))
}

/// What a [`direct`] read is compared with.
fn read_of(answer: &Answer) -> Read {
    let headers = answer
        .headers
        .iter()
        .filter(|(name, _)| *name != "content-length")
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    (answer.status.as_u16(), headers, answer.body.clone())
}

#[tokio::test]
async fn reads_answered_outside_the_router_are_the_routers_answers() {
    let n = nacos().await;
    assert_true(&n.publish("dataId=d&group=G&content=formal").await);
    assert_true(
        &n.cs(
            "POST",
            "dataId=d&group=G&content=beta",
            ("betaIps", "10.0.0.2"),
        )
        .await,
    );
    for (uri, headers) in [
        ("/nacos/v1/cs/configs?dataId=d&group=G", vec![]),
        (
            "/nacos/v1/cs/configs?dataId=d&group=G&tenant=public",
            vec![],
        ),
        (
            "/nacos/v1/cs/configs?dataId=d&group=G",
            vec![("x-forwarded-for", "10.0.0.2")],
        ),
        ("/nacos/v1/cs/configs?dataId=missing&group=G", vec![]),
    ] {
        let routed = n.send("GET", uri, None, &headers).await;
        let answered = direct(&n, uri, &headers).await.unwrap();
        assert_eq!(answered, read_of(&routed), "{uri}");
    }
    // Left to the router: its own wording, listings, betas.
    for uri in [
        "/nacos/v1/cs/configs?group=G",
        "/nacos/v1/cs/configs?dataId=a%20b&group=G",
        "/nacos/v1/cs/configs?search=accurate&dataId=&group=",
        "/nacos/v1/cs/configs?dataId=d&group=G&beta=true",
        "/nacos/v1/cs/history?dataId=d&group=G",
    ] {
        assert!(direct(&n, uri, &[]).await.is_none(), "{uri}");
    }
}
