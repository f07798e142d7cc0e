//! The Nacos naming and login endpoints end to end through the axum Router, on a SQLite file
//! and the standalone coord, with the wire fixtures of docs/nacos-wire.md §10 (F17–F25) and the
//! requests nacos-sdk-python 0.1.17 sends (§7.1): exact `ok` bodies, beat answers, the
//! `instance/list` shape, services, metrics, login, Nacos's error statuses and texts, namespace
//! isolation, and that Nacos and native clients see each other's instances.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::nacos;
use serde_json::json;

/// A loopback port nobody listens on: TCP probes of it fail.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn register_answers_ok_and_the_list_has_nacos_2x_shape() {
    let n = nacos().await;
    // F17.
    n.call(
        "POST",
        "/nacos/v1/ns/instance?port=8848&healthy=true&ip=11.11.11.11&weight=1.0&serviceName=nacos.test.3",
    )
    .await
    .assert_ok();
    // F20.
    let answer = n
        .call("GET", "/nacos/v1/ns/instance/list?serviceName=nacos.test.3")
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.content_type().starts_with("application/json"));
    let list = answer.json();
    let last_ref_time = list["lastRefTime"].as_i64().unwrap();
    assert!(last_ref_time > 1_600_000_000_000, "{list}");
    let expected = json!({
        "name": "DEFAULT_GROUP@@nacos.test.3", "groupName": "DEFAULT_GROUP", "clusters": "",
        "cacheMillis": 10000,
        "hosts": [{
            "instanceId": "11.11.11.11#8848#DEFAULT#DEFAULT_GROUP@@nacos.test.3",
            "ip": "11.11.11.11", "port": 8848, "weight": 1.0, "healthy": true, "enabled": true,
            "ephemeral": true, "clusterName": "DEFAULT",
            "serviceName": "DEFAULT_GROUP@@nacos.test.3", "metadata": {},
            "instanceHeartBeatInterval": 5000, "instanceHeartBeatTimeOut": 15000,
            "ipDeleteTimeout": 30000, "instanceIdGenerator": "simple"
        }],
        "lastRefTime": last_ref_time, "checksum": "", "allIPs": false,
        "reachProtectionThreshold": false, "valid": true
    });
    assert_eq!(list, expected);
    // Types as Jackson writes them: the weight is a double.
    assert!(answer.body.contains(r#""weight":1.0"#), "{}", answer.body);
    // A missing service answers an empty list, not an error.
    let empty = n.list("serviceName=nobody").await;
    assert_eq!(empty["hosts"], json!([]));
    assert_eq!(empty["name"], "DEFAULT_GROUP@@nobody");
    assert_eq!(empty["valid"], true);
}

#[tokio::test]
async fn parameters_come_from_form_bodies_and_the_query_wins() {
    let n = nacos().await;
    n.form(
        "POST",
        "/nacos/v1/ns/instance",
        "serviceName=formed&ip=10.0.0.1&port=8080&weight=2.5&metadata=%7B%22k%22%3A%22v%22%7D",
    )
    .await
    .assert_ok();
    let list = n.list("serviceName=formed").await;
    assert_eq!(list["hosts"][0]["weight"], 2.5);
    assert_eq!(list["hosts"][0]["metadata"], json!({"k": "v"}));
    assert!(list["hosts"][0].get("instanceIdGenerator").is_none());
    // The same name in the query and the body: the query's value is used.
    n.form(
        "POST",
        "/nacos/v1/ns/instance?serviceName=from-query&port=81",
        "serviceName=from-body&ip=10.0.0.2&port=82",
    )
    .await
    .assert_ok();
    assert_eq!(n.hosts("serviceName=from-query").await, ["10.0.0.2:81"]);
    assert!(n.hosts("serviceName=from-body").await.is_empty());
}

#[tokio::test]
async fn grouped_service_names_and_group_name_are_the_same_service() {
    let n = nacos().await;
    n.call(
        "POST",
        "/nacos/v1/ns/instance?serviceName=shop%40%40orders&groupName=ignored&ip=10.0.0.1&port=80",
    )
    .await
    .assert_ok();
    n.call(
        "POST",
        "/nacos/v1/ns/instance?serviceName=orders&groupName=shop&ip=10.0.0.2&port=80",
    )
    .await
    .assert_ok();
    let list = n.list("serviceName=shop%40%40orders").await;
    assert_eq!(list["name"], "shop@@orders");
    assert_eq!(list["groupName"], "shop");
    assert_eq!(list["hosts"].as_array().unwrap().len(), 2);
    assert_eq!(
        n.hosts("serviceName=orders&groupName=shop").await,
        ["10.0.0.1:80", "10.0.0.2:80"]
    );
    assert!(n.hosts("serviceName=orders").await.is_empty());
    assert!(n.hosts("serviceName=ignored%40%40orders").await.is_empty());
    n.call("GET", "/nacos/v1/ns/instance/list?serviceName=%40%40orders")
        .await
        .assert_text(
            StatusCode::BAD_REQUEST,
            "Param 'serviceName' is illegal, groupName can't be empty",
        );
}

#[tokio::test]
async fn beats_renew_answer_20404_for_unknown_instances_and_full_beats_register() {
    let n = nacos().await;
    n.call(
        "POST",
        "/nacos/v1/ns/instance?serviceName=svc&ip=10.0.0.1&port=8080",
    )
    .await
    .assert_ok();
    // A light beat (names only) for a known instance. F22's exact bytes.
    let known = n
        .call(
            "PUT",
            "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080",
        )
        .await;
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(
        known.body,
        r#"{"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}"#
    );
    // F23: unknown, without a beat: register again, with HTTP 200.
    let unknown = n
        .call(
            "PUT",
            "/nacos/v1/ns/instance/beat?serviceName=svc&ip=9.9.9.9&port=1",
        )
        .await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(
        unknown.body,
        r#"{"clientBeatInterval":5000,"code":20404,"lightBeatEnabled":true}"#
    );
    assert_eq!(n.hosts("serviceName=svc").await, ["10.0.0.1:8080"]);
    // F22: a full beat of an unknown instance registers it (ip and port from the beat).
    let beat = r#"{"serviceName": "DEFAULT_GROUP@@svc", "ip": "10.0.0.9", "port": 9090, "weight": 3.0, "ephemeral": true, "metadata": {"k": "v"}, "cluster": "c1"}"#;
    let full = n
        .form(
            "PUT",
            "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40svc&ip=1.1.1.1&port=1",
            &format!("beat={}", encode(beat)),
        )
        .await;
    assert_eq!(
        full.body,
        r#"{"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}"#
    );
    let list = n.list("serviceName=svc&clusters=c1").await;
    let hosts = list["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 1, "{list}");
    assert_eq!(
        hosts[0]["instanceId"],
        "10.0.0.9#9090#c1#DEFAULT_GROUP@@svc"
    );
    assert_eq!(hosts[0]["weight"], 3.0);
    assert_eq!(hosts[0]["metadata"], json!({"k": "v"}));
    // A missing serviceName, as Nacos says it.
    n.call("PUT", "/nacos/v1/ns/instance/beat?ip=1.1.1.1&port=1")
        .await
        .assert_text(StatusCode::BAD_REQUEST, "Param 'serviceName' is required.");
}

/// `keel serve` answers beats outside the router (`keel_nacos::NacosBeat`): the same requests
/// on two nodes in the same state, one through the router and one directly, get the same
/// status, content type and body, and leave the same instances behind.
#[tokio::test]
async fn beats_answered_outside_the_router_answer_as_the_router_does() {
    let (routed, direct) = (nacos().await, nacos().await);
    let register = "/nacos/v1/ns/instance?serviceName=svc&ip=10.0.0.1&port=8080";
    routed.call("POST", register).await.assert_ok();
    direct.call("POST", register).await.assert_ok();
    let beat = r#"{"serviceName":"DEFAULT_GROUP@@svc","ip":"10.0.0.9","port":9090,"cluster":"c1"}"#;
    let full = format!("beat={}", encode(beat));
    let path = "/nacos/v1/ns/instance/beat";
    let cases: [(String, Option<&str>); 8] = [
        // Known, light (10200); unknown, light (20404).
        (
            format!("{path}?serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080"),
            None,
        ),
        (format!("{path}?serviceName=svc&ip=9.9.9.9&port=1"), None),
        // A full beat in the form body registers (10200), and then renews.
        (format!("{path}?serviceName=svc"), Some(&full)),
        (format!("{path}?serviceName=svc"), Some(&full)),
        // Refusals, worded by the handler's own code.
        (format!("{path}?ip=1.1.1.1&port=1"), None),
        (format!("{path}?serviceName=svc&ip=1.1.1.1&port=x"), None),
        (format!("{path}?serviceName=svc&beat=%7Bnope"), None),
        (
            format!("{path}?serviceName=svc"),
            Some("beat=%7B%22ip%22%3A%221.1.1.1%22%2C%22port%22%3A0%7D"),
        ),
    ];
    for (uri, body) in &cases {
        let expected = match body {
            Some(body) => routed.form("PUT", uri, body).await,
            None => routed.call("PUT", uri).await,
        };
        let answered = direct.direct_beat(uri, *body).await.unwrap();
        assert_eq!(
            (answered.status, answered.content_type(), &answered.body),
            (expected.status, expected.content_type(), &expected.body),
            "{uri} {body:?}"
        );
    }
    assert_eq!(
        routed.hosts("serviceName=svc&clusters=c1").await,
        ["10.0.0.9:9090"]
    );
    assert_eq!(
        direct.hosts("serviceName=svc&clusters=c1").await,
        ["10.0.0.9:9090"]
    );
    // Any other path is not a beat.
    assert!(
        direct
            .direct_beat("/nacos/v1/ns/instance", None)
            .await
            .is_none()
    );
}

#[tokio::test]
async fn preserved_metadata_sets_the_heartbeat_timings() {
    let n = nacos().await;
    let metadata = encode(
        r#"{"preserved.heart.beat.interval":"1000","preserved.heart.beat.timeout":"2000","preserved.ip.delete.timeout":"60000"}"#,
    );
    n.call(
        "POST",
        &format!("/nacos/v1/ns/instance?serviceName=fast&ip=10.0.0.1&port=80&metadata={metadata}"),
    )
    .await
    .assert_ok();
    let host = n.list("serviceName=fast").await["hosts"][0].clone();
    assert_eq!(host["instanceHeartBeatInterval"], 1000);
    assert_eq!(host["instanceHeartBeatTimeOut"], 2000);
    assert_eq!(host["ipDeleteTimeout"], 60000);
    let beat = n
        .call(
            "PUT",
            "/nacos/v1/ns/instance/beat?serviceName=fast&ip=10.0.0.1&port=80",
        )
        .await;
    assert_eq!(beat.json()["clientBeatInterval"], 1000);
    // Without beats for the heartbeat timeout it turns unhealthy; a beat heals it.
    keel_testkit::eventually_async(
        "the instance to miss its beats",
        Duration::from_secs(10),
        || async {
            let list = n.list("serviceName=fast").await;
            (list["hosts"][0]["healthy"] == false).then_some(())
        },
    )
    .await;
    assert!(
        n.hosts("serviceName=fast&healthyOnly=true")
            .await
            .is_empty()
    );
    n.call(
        "PUT",
        "/nacos/v1/ns/instance/beat?serviceName=fast&ip=10.0.0.1&port=80",
    )
    .await;
    assert_eq!(
        n.hosts("serviceName=fast&healthyOnly=true").await,
        ["10.0.0.1:80"]
    );
    // An interval longer than the timeouts is refused as Nacos refuses it.
    let bad =
        encode(r#"{"preserved.heart.beat.interval":"9000","preserved.heart.beat.timeout":"2000"}"#);
    n.call(
        "POST",
        &format!("/nacos/v1/ns/instance?serviceName=fast&ip=10.0.0.2&port=80&metadata={bad}"),
    )
    .await
    .assert_text(
        StatusCode::BAD_REQUEST,
        "Instance 'heart beat interval' must less than 'heart beat timeout' and 'ip delete timeout'.",
    );
}

#[tokio::test]
async fn healthy_only_and_clusters_filter_the_list() {
    let n = nacos().await;
    let down = closed_port();
    n.call(
        "POST",
        "/nacos/v1/ns/instance?serviceName=mixed&ip=10.0.0.1&port=80&clusterName=c1",
    )
    .await
    .assert_ok();
    // A persistent instance registered unhealthy: TCP probes of a closed port agree.
    n.call(
        "POST",
        &format!("/nacos/v1/ns/instance?serviceName=mixed&ip=127.0.0.1&port={down}&ephemeral=false&healthy=false"),
    )
    .await
    .assert_ok();
    let list = n.list("serviceName=mixed").await;
    let hosts = list["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2, "{list}");
    let persistent = hosts.iter().find(|h| h["port"] == down).unwrap();
    assert_eq!(persistent["healthy"], false);
    assert_eq!(persistent["ephemeral"], false);
    assert_eq!(persistent["clusterName"], "DEFAULT");
    assert_eq!(
        n.hosts("serviceName=mixed&healthyOnly=true").await,
        ["10.0.0.1:80"]
    );
    assert_eq!(
        n.hosts("serviceName=mixed&healthyOnly=False").await.len(),
        2
    );
    assert_eq!(
        n.hosts("serviceName=mixed&clusters=c1").await,
        ["10.0.0.1:80"]
    );
    let list = n.list("serviceName=mixed&clusters=DEFAULT,c2").await;
    assert_eq!(list["clusters"], "DEFAULT,c2");
    assert_eq!(list["hosts"].as_array().unwrap().len(), 1);
    assert_eq!(
        n.hosts("serviceName=mixed&clusters=c1,DEFAULT").await.len(),
        2
    );
    // GET /ns/service lists the clusters that have instances.
    let service = n
        .call("GET", "/nacos/v1/ns/service?serviceName=mixed")
        .await
        .json();
    let clusters: Vec<&str> = service["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(clusters, ["DEFAULT", "c1"]);
    assert_eq!(
        service["clusters"][0]["healthChecker"],
        json!({"type": "TCP"})
    );
}

#[tokio::test]
async fn the_protect_threshold_marks_every_instance_healthy() {
    let n = nacos().await;
    n.call(
        "POST",
        "/nacos/v1/ns/service?serviceName=guarded&protectThreshold=0.8",
    )
    .await
    .assert_ok();
    n.call(
        "POST",
        "/nacos/v1/ns/instance?serviceName=guarded&ip=10.0.0.1&port=80",
    )
    .await
    .assert_ok();
    let down = closed_port();
    n.call(
        "POST",
        &format!("/nacos/v1/ns/instance?serviceName=guarded&ip=127.0.0.1&port={down}&ephemeral=false&healthy=false"),
    )
    .await
    .assert_ok();
    for query in [
        "serviceName=guarded",
        "serviceName=guarded&healthyOnly=true",
        "serviceName=guarded&clusters=DEFAULT",
    ] {
        let list = n.list(query).await;
        assert_eq!(list["reachProtectionThreshold"], true, "{query}: {list}");
        let hosts = list["hosts"].as_array().unwrap();
        assert_eq!(hosts.len(), 2, "{query}: {list}");
        assert!(hosts.iter().all(|h| h["healthy"] == true), "{list}");
    }
}

#[tokio::test]
async fn disabled_instances_are_hidden_and_updates_replace_fields() {
    let n = nacos().await;
    n.call(
        "POST",
        "/nacos/v1/ns/instance?serviceName=svc&ip=10.0.0.1&port=80&enable=False&metadata=a%3D1",
    )
    .await
    .assert_ok();
    assert!(n.hosts("serviceName=svc").await.is_empty());
    // Still there: GET /ns/instance shows it.
    let one = n
        .call(
            "GET",
            "/nacos/v1/ns/instance?serviceName=svc&ip=10.0.0.1&port=80",
        )
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    // PUT without enable/enabled re-enables it and replaces weight and metadata (F19's shape).
    n.call(
        "PUT",
        "/nacos/v1/ns/instance?serviceName=svc&ip=10.0.0.1&port=80&weight=8.0",
    )
    .await
    .assert_ok();
    let host = n.list("serviceName=svc").await["hosts"][0].clone();
    assert_eq!(host["weight"], 8.0);
    assert_eq!(host["metadata"], json!({}));
    // `enabled` is read before `enable`.
    n.call(
        "PUT",
        "/nacos/v1/ns/instance?serviceName=svc&ip=10.0.0.1&port=80&weight=8&enabled=false&enable=true",
    )
    .await
    .assert_ok();
    assert!(n.hosts("serviceName=svc").await.is_empty());
    // PATCH changes only what it names.
    n.call(
        "PATCH",
        "/nacos/v1/ns/instance?serviceName=svc&ip=10.0.0.1&port=80&enabled=true",
    )
    .await
    .assert_ok();
    let host = n.list("serviceName=svc").await["hosts"][0].clone();
    assert_eq!(host["weight"], 8.0);
    // An update needs the service, as in Nacos 2.x.
    n.call(
        "PUT",
        "/nacos/v1/ns/instance?serviceName=ghost&ip=10.0.0.1&port=80",
    )
    .await
    .assert_text(
        StatusCode::BAD_REQUEST,
        "service not found, namespace: public, service: Service{namespace='public', group='DEFAULT_GROUP', name='ghost', ephemeral=true, revision=0}",
    );
}

#[tokio::test]
async fn deregister_answers_ok_even_for_unknown_instances() {
    let n = nacos().await;
    n.call(
        "POST",
        "/nacos/v1/ns/instance?serviceName=svc&ip=1.1.1.1&port=8888&clusterName=TEST1",
    )
    .await
    .assert_ok();
    // F18: the cluster does not matter (Nacos 2.x keys instances by ip:port).
    n.call(
        "DELETE",
        "/nacos/v1/ns/instance?serviceName=svc&ip=1.1.1.1&port=8888",
    )
    .await
    .assert_ok();
    assert!(n.hosts("serviceName=svc").await.is_empty());
    n.call(
        "DELETE",
        "/nacos/v1/ns/instance?serviceName=nacos.test.1&ip=1.1.1.1&port=8888&clusterName=TEST1",
    )
    .await
    .assert_ok();
}

#[tokio::test]
async fn one_instance_and_its_404s() {
    let n = nacos().await;
    n.call(
        "GET",
        "/nacos/v1/ns/instance?serviceName=svc&ip=1.1.1.1&port=3306",
    )
    .await
    .assert_text(
        StatusCode::NOT_FOUND,
        "no ips found for cluster DEFAULT in service DEFAULT_GROUP@@svc",
    );
    n.call(
        "POST",
        "/nacos/v1/ns/instance?serviceName=svc&ip=1.1.1.1&port=3306",
    )
    .await
    .assert_ok();
    // F21.
    let one = n
        .call(
            "GET",
            "/nacos/v1/ns/instance?serviceName=svc&ip=1.1.1.1&port=3306",
        )
        .await;
    assert_eq!(
        one.json(),
        json!({"service": "DEFAULT_GROUP@@svc", "ip": "1.1.1.1", "port": 3306,
               "clusterName": "DEFAULT", "weight": 1.0, "healthy": true,
               "instanceId": "1.1.1.1#3306#DEFAULT#DEFAULT_GROUP@@svc", "metadata": {}})
    );
    n.call(
        "GET",
        "/nacos/v1/ns/instance?serviceName=svc&ip=1.1.1.1&port=3307",
    )
    .await
    .assert_text(StatusCode::NOT_FOUND, "no matched ip found!");
    n.call(
        "GET",
        "/nacos/v1/ns/instance?serviceName=svc&ip=1.1.1.1&port=3306&clusterName=other",
    )
    .await
    .assert_text(StatusCode::NOT_FOUND, "no matched ip found!");
}

#[tokio::test]
async fn services_are_created_read_listed_updated_and_deleted() {
    let n = nacos().await;
    // F24.
    n.call(
        "POST",
        "/nacos/v1/ns/service?serviceName=s&protectThreshold=0.3",
    )
    .await
    .assert_ok();
    n.call(
        "POST",
        "/nacos/v1/ns/service?serviceName=s&protectThreshold=0.3",
    )
    .await
    .assert_text(
        StatusCode::BAD_REQUEST,
        "specified service DEFAULT_GROUP@@s already exists!",
    );
    let detail = n.call("GET", "/nacos/v1/ns/service?serviceName=s").await;
    assert_eq!(
        detail.json(),
        json!({"namespaceId": "public", "groupName": "DEFAULT_GROUP", "name": "s",
               "protectThreshold": 0.3, "metadata": {},
               "selector": {"type": "none", "contextType": "NONE"}, "clusters": []})
    );
    n.call(
        "POST",
        "/nacos/v1/ns/instance?serviceName=auto&ip=10.0.0.1&port=80",
    )
    .await
    .assert_ok();
    let list = n
        .call("GET", "/nacos/v1/ns/service/list?pageNo=1&pageSize=150")
        .await;
    assert_eq!(list.json(), json!({"count": 2, "doms": ["auto", "s"]}));
    let page = n
        .call("GET", "/nacos/v1/ns/service/list?pageNo=2&pageSize=1")
        .await;
    assert_eq!(page.json(), json!({"count": 2, "doms": ["s"]}));
    let past = n
        .call("GET", "/nacos/v1/ns/service/list?pageNo=3&pageSize=5000")
        .await;
    assert_eq!(past.json(), json!({"count": 2, "doms": []}));
    // Update: protectThreshold is required; metadata is replaced.
    n.call("PUT", "/nacos/v1/ns/service?serviceName=s")
        .await
        .assert_text(
            StatusCode::BAD_REQUEST,
            "Param 'protectThreshold' is required.",
        );
    n.call(
        "PUT",
        "/nacos/v1/ns/service?serviceName=s&protectThreshold=0.5&metadata=team%3Dcheckout",
    )
    .await
    .assert_ok();
    let detail = n
        .call("GET", "/nacos/v1/ns/service?serviceName=s")
        .await
        .json();
    assert_eq!(detail["protectThreshold"], 0.5);
    assert_eq!(detail["metadata"], json!({"team": "checkout"}));
    n.call(
        "PUT",
        "/nacos/v1/ns/service?serviceName=nope&protectThreshold=0",
    )
    .await
    .assert_text(
        StatusCode::BAD_REQUEST,
        "service DEFAULT_GROUP@@nope not found!",
    );
    // Delete: not while instances remain.
    n.call("DELETE", "/nacos/v1/ns/service?serviceName=auto")
        .await
        .assert_text(
            StatusCode::BAD_REQUEST,
            "Service DEFAULT_GROUP@@auto is not empty, can't be delete. Please unregister instance first",
        );
    n.call("DELETE", "/nacos/v1/ns/service?serviceName=s")
        .await
        .assert_ok();
    n.call("DELETE", "/nacos/v1/ns/service?serviceName=s")
        .await
        .assert_text(
            StatusCode::BAD_REQUEST,
            "service DEFAULT_GROUP@@s not found!",
        );
    n.call("GET", "/nacos/v1/ns/service?serviceName=s")
        .await
        .assert_text(
            StatusCode::BAD_REQUEST,
            "service not found, namespace: public, serviceName: DEFAULT_GROUP@@s",
        );
}

#[tokio::test]
async fn metrics_answer_status_or_the_long_form() {
    let n = nacos().await;
    n.call(
        "POST",
        "/nacos/v1/ns/instance?serviceName=svc&ip=10.0.0.1&port=80",
    )
    .await
    .assert_ok();
    // F25.
    for path in ["/nacos/v1/ns/operator/metrics", "/nacos/v1/ns/ops/metrics"] {
        let short = n.call("GET", path).await;
        assert_eq!(short.body, r#"{"status":"UP"}"#);
    }
    let long = n
        .call("GET", "/nacos/v1/ns/operator/metrics?onlyStatus=false")
        .await
        .json();
    let keys = [
        "status",
        "serviceCount",
        "instanceCount",
        "subscribeCount",
        "responsibleInstanceCount",
        "clientCount",
        "connectionBasedClientCount",
        "ephemeralIpPortClientCount",
        "persistentIpPortClientCount",
        "responsibleClientCount",
        "cpu",
        "load",
        "mem",
    ];
    let object = long.as_object().unwrap();
    assert_eq!(object.len(), keys.len(), "{long}");
    for key in keys {
        assert!(object.contains_key(key), "{key} missing: {long}");
    }
    assert_eq!(long["status"], "UP");
    assert_eq!(long["serviceCount"], 1);
    assert_eq!(long["instanceCount"], 1);
    assert_eq!(long["ephemeralIpPortClientCount"], 1);
    assert!(long["cpu"].is_f64() && long["load"].is_f64() && long["mem"].is_f64());
}

#[tokio::test]
async fn login_answers_a_token_for_any_credentials() {
    let n = nacos().await;
    let answer = n
        .call("POST", "/nacos/v1/auth/login?username=nacos&password=nacos")
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let token = answer.json();
    let access = token["accessToken"].as_str().unwrap();
    assert!(access.len() >= 32, "{token}");
    assert_eq!(token["tokenTtl"], 18000);
    assert_eq!(token["globalAdmin"], true);
    assert_eq!(token["username"], "nacos");
    assert_eq!(
        answer.headers["authorization"].to_str().unwrap(),
        format!("Bearer {access}")
    );
    let other = n
        .form(
            "POST",
            "/nacos/v1/auth/users/login",
            "username=someone&password=wrong",
        )
        .await
        .json();
    assert_eq!(other["username"], "someone");
    assert_ne!(other["accessToken"], token["accessToken"]);
    // The token travels with every later call (auth is off: it is accepted and ignored).
    n.call(
        "POST",
        &format!("/nacos/v1/ns/instance?serviceName=svc&ip=10.0.0.1&port=80&accessToken={access}"),
    )
    .await
    .assert_ok();
}

#[tokio::test]
async fn missing_and_bad_parameters_answer_nacos_statuses_and_texts() {
    let n = nacos().await;
    let cases = [
        (
            "POST",
            "/nacos/v1/ns/instance?ip=1.1.1.1&port=80",
            "Param 'serviceName' is required.",
        ),
        (
            "POST",
            "/nacos/v1/ns/instance?serviceName=s&port=80",
            "Param 'ip' is required.",
        ),
        (
            "POST",
            "/nacos/v1/ns/instance?serviceName=s&ip=1.1.1.1",
            "Param 'port' is required.",
        ),
        (
            "POST",
            "/nacos/v1/ns/instance?serviceName=s&ip=1.1.1.1&port=x",
            "For input string: \"x\"",
        ),
        (
            "POST",
            "/nacos/v1/ns/instance?serviceName=s&ip=1.1.1.1&port=80&weight=10001",
            "instance format invalid: The weights range from 0.0 to 10000.0",
        ),
        (
            "POST",
            "/nacos/v1/ns/instance?serviceName=s&ip=1.1.1.1&port=80&clusterName=a_b",
            "Instance 'clusterName' should be characters with only 0-9a-zA-Z-. (current: a_b)",
        ),
        (
            "POST",
            "/nacos/v1/ns/instance?serviceName=s&ip=1.1.1.1&port=80&metadata=oops",
            "metadata format incorrect:oops",
        ),
        (
            "DELETE",
            "/nacos/v1/ns/instance?serviceName=s&port=80",
            "Param 'ip' is required.",
        ),
        (
            "GET",
            "/nacos/v1/ns/instance/list",
            "Param 'serviceName' is required.",
        ),
        (
            "GET",
            "/nacos/v1/ns/service/list?pageSize=10",
            "Param 'pageNo' is required.",
        ),
        (
            "GET",
            "/nacos/v1/ns/service/list?pageNo=1",
            "Param 'pageSize' is required.",
        ),
        (
            "POST",
            "/nacos/v1/ns/service?protectThreshold=0.1",
            "Parameter 'serviceName' is missing",
        ),
        (
            "GET",
            "/nacos/v1/ns/service",
            "Parameter 'serviceName' is missing",
        ),
        (
            "DELETE",
            "/nacos/v1/ns/service",
            "Parameter 'serviceName' is missing",
        ),
        (
            "PUT",
            "/nacos/v1/ns/service?protectThreshold=0.1",
            "Param 'serviceName' is required.",
        ),
    ];
    for (method, uri, text) in cases {
        let answer = n.call(method, uri).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (StatusCode::BAD_REQUEST, text),
            "{method} {uri}"
        );
        assert_eq!(answer.content_type(), "text/plain;charset=UTF-8");
    }
    // Names outside keel's charset are refused with the parameter checker's opening words.
    let slash = n
        .call(
            "POST",
            "/nacos/v1/ns/instance?serviceName=a%2Fb&ip=1.1.1.1&port=80",
        )
        .await;
    assert_eq!(slash.status, StatusCode::BAD_REQUEST);
    assert!(
        slash.body.starts_with("Param 'serviceName' is illegal, "),
        "{}",
        slash.body
    );
}

#[tokio::test]
async fn namespaces_are_isolated_tenants() {
    let n = nacos().await;
    n.call(
        "PUT",
        "/nacos/v1/ns/instance?serviceName=svc&groupName=G&ip=22.22.22.22&port=80&namespaceId=namespace-2&weight=8.0",
    )
    .await
    .assert_text(
        StatusCode::BAD_REQUEST,
        "service not found, namespace: namespace-2, service: Service{namespace='namespace-2', group='G', name='svc', ephemeral=true, revision=0}",
    );
    n.call(
        "POST",
        "/nacos/v1/ns/instance?serviceName=svc&groupName=G&ip=22.22.22.22&port=80&namespaceId=namespace-2",
    )
    .await
    .assert_ok();
    // F19.
    n.call(
        "PUT",
        "/nacos/v1/ns/instance?serviceName=svc&groupName=G&ip=22.22.22.22&port=80&namespaceId=namespace-2&weight=8.0",
    )
    .await
    .assert_ok();
    let list = n
        .list("serviceName=svc&groupName=G&namespaceId=namespace-2")
        .await;
    assert_eq!(list["hosts"][0]["weight"], 8.0);
    assert!(n.hosts("serviceName=svc&groupName=G").await.is_empty());
    assert!(
        n.hosts("serviceName=svc&groupName=G&namespaceId=public")
            .await
            .is_empty()
    );
    // The same address in the public namespace is another instance.
    n.call(
        "POST",
        "/nacos/v1/ns/instance?serviceName=svc&groupName=G&ip=22.22.22.22&port=80&namespaceId=public",
    )
    .await
    .assert_ok();
    n.call(
        "DELETE",
        "/nacos/v1/ns/instance?serviceName=svc&groupName=G&ip=22.22.22.22&port=80",
    )
    .await
    .assert_ok();
    assert_eq!(
        n.hosts("serviceName=svc&groupName=G&namespaceId=namespace-2")
            .await,
        ["22.22.22.22:80"]
    );
    let services = n
        .call(
            "GET",
            "/nacos/v1/ns/service/list?pageNo=1&pageSize=10&groupName=G&namespaceId=namespace-2",
        )
        .await
        .json();
    assert_eq!(services, json!({"count": 1, "doms": ["svc"]}));
    // keel's name of the public namespace is not a namespace of its own.
    let aliased = n
        .call(
            "GET",
            "/nacos/v1/ns/instance/list?serviceName=svc&namespaceId=default",
        )
        .await;
    assert_eq!(aliased.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn nacos_and_native_clients_see_each_others_instances() {
    let n = nacos().await;
    n.call(
        "POST",
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.1&port=80&clusterName=c1&metadata=%7B%22zone%22%3A%22a%22%7D",
    )
    .await
    .assert_ok();
    let native = n
        .native("GET", "/api/v1/services/orders/instances", None)
        .await;
    let instances = native["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{native}");
    assert_eq!(instances[0]["host"], "10.0.0.1");
    assert_eq!(
        instances[0]["metadata"],
        json!({"zone": "a", "nacos.cluster": "c1"})
    );
    assert_eq!(instances[0]["healthCheck"]["type"], "ttl");

    n.native(
        "POST",
        "/api/v1/instances",
        Some(json!({"serviceName": "orders", "host": "10.0.0.2", "port": 81, "tags": ["v2"]})),
    )
    .await;
    let list = n.list("serviceName=orders").await;
    let hosts = list["hosts"].as_array().unwrap();
    let native_host = hosts.iter().find(|h| h["ip"] == "10.0.0.2").unwrap();
    assert_eq!(
        native_host["instanceId"],
        "10.0.0.2#81#DEFAULT#DEFAULT_GROUP@@orders"
    );
    assert_eq!(native_host["clusterName"], "DEFAULT");
    // A Nacos update keeps what only keel has (tags).
    n.call(
        "PUT",
        "/nacos/v1/ns/instance?serviceName=orders&ip=10.0.0.2&port=81&weight=4",
    )
    .await
    .assert_ok();
    let native = n
        .native("GET", "/api/v1/services/orders/instances", None)
        .await;
    let updated = native["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["host"] == "10.0.0.2")
        .unwrap()
        .clone();
    assert_eq!(updated["tags"], json!(["v2"]));
    assert_eq!(updated["weight"], 4.0);
    // keel's status OUT_OF_SERVICE reads as disabled.
    let id = updated["instanceId"].as_str().unwrap();
    n.native(
        "PUT",
        &format!("/api/v1/instances/{id}/status"),
        Some(json!({"status": "OUT_OF_SERVICE"})),
    )
    .await;
    assert_eq!(n.hosts("serviceName=orders").await, ["10.0.0.1:80"]);
}

#[tokio::test]
async fn nacos_sdk_python_requests_work_as_recorded() {
    // docs/nacos-wire.md §7.1, verbatim (accessToken included).
    let n = nacos().await;
    n.call("POST", "/nacos/v1/auth/login?username=nacos&password=nacos")
        .await;
    n.call("POST", "/nacos/v1/ns/instance?ip=10.0.0.1&port=8080&serviceName=svc&weight=1.0&enable=True&healthy=True&clusterName=None&ephemeral=True&groupName=DEFAULT_GROUP&metadata=%7B%22k%22%3A+%22v%22%7D&accessToken=tok")
        .await
        .assert_ok();
    let beat = n.call("PUT", "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40svc&beat=%7B%22serviceName%22%3A+%22DEFAULT_GROUP%40%40svc%22%2C+%22ip%22%3A+%2210.0.0.1%22%2C+%22port%22%3A+8080%2C+%22weight%22%3A+1.0%2C+%22ephemeral%22%3A+true%2C+%22metadata%22%3A+%7B%22k%22%3A+%22v%22%7D%7D&groupName=DEFAULT_GROUP&accessToken=tok").await;
    assert_eq!(beat.json()["code"], 10200);
    let list = n
        .list("serviceName=svc&healthyOnly=False&groupName=DEFAULT_GROUP&accessToken=tok")
        .await;
    let host = &list["hosts"][0];
    // `clusterName=None` is kept literally, as Nacos 2.x does (the beat, without a cluster,
    // does not move the instance back to DEFAULT).
    assert_eq!(host["instanceId"], "10.0.0.1#8080#None#DEFAULT_GROUP@@svc");
    assert_eq!(host["clusterName"], "None");
    assert_eq!(host["metadata"], json!({"k": "v"}));
    n.call("PUT", "/nacos/v1/ns/instance?ip=10.0.0.1&port=8080&serviceName=svc&ephemeral=True&groupName=DEFAULT_GROUP&enable=False&weight=2.0&accessToken=tok")
        .await
        .assert_ok();
    assert!(
        n.hosts("serviceName=svc&healthyOnly=False")
            .await
            .is_empty()
    );
    n.call("DELETE", "/nacos/v1/ns/instance?ip=10.0.0.1&port=8080&serviceName=svc&ephemeral=True&groupName=DEFAULT_GROUP&accessToken=tok")
        .await
        .assert_ok();
    let one = n
        .call(
            "GET",
            "/nacos/v1/ns/instance?serviceName=svc&ip=10.0.0.1&port=8080",
        )
        .await;
    assert_eq!(one.status, StatusCode::NOT_FOUND);
}

/// Percent-encodes a form value.
fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
