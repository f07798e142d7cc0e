//! The Nacos v1 config API as the benchmarks drive it (docs/nacos-wire.md §2–§3): publish,
//! read, and the long-poll listener. The same requests go to r-nacos and to keel's
//! `/nacos/v1/cs/*`, so a keel-vs-r-nacos figure compares servers, not clients.
//!
//! Every config lives in the public namespace (no `tenant`) and group [`GROUP`].

use std::io;

use crate::http::{Answer, Conn, Url, form_encode};
use crate::keel::expect;

/// The group of every benchmark config.
pub const GROUP: &str = "DEFAULT_GROUP";

/// Publish and read: `POST` / `GET /nacos/v1/cs/configs`.
pub const CONFIGS: &str = "/nacos/v1/cs/configs";

/// The long poll: `POST /nacos/v1/cs/configs/listener`.
pub const LISTENER: &str = "/nacos/v1/cs/configs/listener";

/// `POST /nacos/v1/cs/configs` with the form `dataId=&group=&content=`.
pub fn publish_request(server: &Url, data_id: &str, content: &str) -> Vec<u8> {
    let form = format!(
        "dataId={}&group={GROUP}&content={}",
        form_encode(data_id),
        form_encode(content)
    );
    server.with_path(CONFIGS).post_form(&[], &form)
}

/// Whether a publish's answer is the Nacos success: 200 with the body `true`.
pub fn published(answer: &Answer) -> io::Result<()> {
    expect(answer, &[200], "publishing the config")?;
    if answer.body != b"true" {
        return Err(io::Error::other(format!(
            "publishing the config answered 200 but not `true`: {}",
            String::from_utf8_lossy(&answer.body)
        )));
    }
    Ok(())
}

/// Publishes `content` as `data_id` and checks the answer.
pub async fn publish(
    conn: &mut Conn,
    server: &Url,
    data_id: &str,
    content: &str,
) -> io::Result<()> {
    let answer = conn
        .send(&publish_request(server, data_id, content))
        .await?;
    published(&answer)
}

/// The read URL of `data_id`: `GET /nacos/v1/cs/configs?dataId=&group=`.
pub fn read_url(server: &Url, data_id: &str) -> Url {
    server.with_path(&format!(
        "{CONFIGS}?dataId={}&group={GROUP}",
        form_encode(data_id)
    ))
}

/// The MD5 the server holds for `data_id`, from the `Content-MD5` of a read (both Nacos and
/// r-nacos send it; a listener's record must carry exactly that value or it is answered at
/// once instead of parking).
pub async fn server_md5(conn: &mut Conn, server: &Url, data_id: &str) -> io::Result<String> {
    let answer = conn.send(&read_url(server, data_id).get()).await?;
    expect(&answer, &[200], "reading the config")?;
    answer.content_md5.ok_or_else(|| {
        io::Error::other(
            "the config read has no Content-MD5 header (docs/nacos-wire.md §2.1): a listener \
             cannot be parked without it",
        )
    })
}

/// A listener that parks until `data_id` changes from `md5`, for at most `timeout_ms`
/// (`Long-Pulling-Timeout`; the server answers ~500 ms early). The record is the four-field
/// form nacos-sdk-python sends: `dataId ^2 group ^2 md5 ^2 tenant ^1`, empty tenant.
pub fn listener_request(server: &Url, data_id: &str, md5: &str, timeout_ms: u64) -> Vec<u8> {
    let record = format!("{data_id}\u{2}{GROUP}\u{2}{md5}\u{2}\u{1}");
    server.with_path(LISTENER).post_form(
        &[("Long-Pulling-Timeout", &timeout_ms.to_string())],
        &format!("Listening-Configs={}", form_encode(&record)),
    )
}

/// Whether a listener's answer reports a change: 200 with the changed keys (an empty 200 is
/// the timeout).
pub fn listener_woke(answer_status: u16, body: &[u8]) -> bool {
    answer_status == 200 && !body.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_follow_the_wire_format() {
        let url = Url::parse("http://127.0.0.1:1/").unwrap();
        let publish = String::from_utf8(publish_request(&url, "a b", "k=v")).unwrap();
        assert!(publish.starts_with("POST /nacos/v1/cs/configs HTTP/1.1\r\n"));
        assert!(publish.ends_with("\r\n\r\ndataId=a+b&group=DEFAULT_GROUP&content=k%3Dv"));
        let listen = String::from_utf8(listener_request(&url, "d1", "ab12", 30_000)).unwrap();
        assert!(listen.contains("Long-Pulling-Timeout: 30000\r\n"));
        assert!(listen.ends_with("Listening-Configs=d1%02DEFAULT_GROUP%02ab12%02%01"));
        assert_eq!(
            read_url(&url, "d1").path,
            "/nacos/v1/cs/configs?dataId=d1&group=DEFAULT_GROUP"
        );
        assert!(listener_woke(200, b"d1%02DEFAULT_GROUP%01\n"));
        assert!(!listener_woke(200, b""));
    }
}
