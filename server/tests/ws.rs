//! The WebSocket push of a real `keel serve`: subscribe, receive releases with their changes,
//! catch up at once when behind, and get an error frame (not a closed socket) for a bad frame.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{free_port, ok, start};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const NS: &str = "/api/v1/envs/dev/apps/shop/clusters/default/namespaces/application";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

async fn send(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

fn target(release_key: &str) -> Value {
    json!({"env": "dev", "app": "shop", "cluster": "default", "namespace": "application", "releaseKey": release_key})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_are_pushed_with_their_changes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port);
    let http = move |method: &'static str, path: String, body: Option<Value>| {
        tokio::task::spawn_blocking(move || ok(port, method, &path, body))
    };
    http(
        "POST",
        "/api/v1/envs/dev/apps".into(),
        Some(json!({"name": "shop"})),
    )
    .await
    .unwrap();
    http(
        "POST",
        format!("{NS}/items"),
        Some(json!({"key": "a", "value": "1"})),
    )
    .await
    .unwrap();
    let first = http("POST", format!("{NS}/releases"), Some(json!({})))
        .await
        .unwrap();
    let k1 = first["release_key"].as_str().unwrap().to_owned();

    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/api/v1/ws"))
            .await
            .unwrap();
    send(&mut socket, json!({"subscribe": [target(&k1)]})).await;
    assert_eq!(
        next_json(&mut socket).await,
        json!({"type": "subscribed", "count": 1})
    );

    http(
        "POST",
        format!("{NS}/items"),
        Some(json!({"key": "b", "value": "2"})),
    )
    .await
    .unwrap();
    let second = http("POST", format!("{NS}/releases"), Some(json!({})))
        .await
        .unwrap();
    let pushed = next_json(&mut socket).await;
    assert_eq!(pushed["type"], "release");
    assert_eq!(pushed["release_key"], second["release_key"]);
    assert_eq!(pushed["since"], k1.as_str());
    assert_eq!(pushed["added"], json!({"b": "2"}));

    // A second socket that is behind gets the changes at once.
    let (mut behind, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/api/v1/ws"))
            .await
            .unwrap();
    send(&mut behind, json!({"subscribe": [target(&k1)]})).await;
    let mut frames = [next_json(&mut behind).await, next_json(&mut behind).await];
    frames.sort_by_key(|f| f["type"].as_str().unwrap().to_owned());
    assert_eq!(frames[0]["release_key"], second["release_key"]);
    assert_eq!(frames[1]["type"], "subscribed");

    // A bad frame is answered with an error; the socket stays usable.
    send(&mut socket, json!({"subscribe": [{"env": "dev"}]})).await;
    let error = next_json(&mut socket).await;
    assert_eq!(error["type"], "error");
    assert!(
        error["message"].as_str().unwrap().contains("subscribe"),
        "{error}"
    );
    let third = http("POST", format!("{NS}/releases"), Some(json!({})))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut socket).await["release_key"],
        third["release_key"]
    );
    server.kill();
}
