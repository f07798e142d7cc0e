//! Setting up what a benchmark reads on a running keel: an app, a namespace, items, releases
//! (the HTTP API of docs/config-center.md).

use std::io;

use serde_json::json;

use crate::http::{Answer, Conn, Url};

/// One namespace of a keel server, reached over one connection.
#[derive(Debug)]
pub struct Namespace {
    conn: Conn,
    server: Url,
    /// `/api/v1/envs/{env}/apps/{app}/clusters/default/namespaces/{namespace}`.
    pub path: String,
}

impl Namespace {
    /// Creates (or reuses) app `app` and its namespace `namespace` (`properties`) in `env`.
    pub async fn create(server: &Url, env: &str, app: &str, namespace: &str) -> io::Result<Self> {
        let mut conn = Conn::connect(&server.addr, None).await?;
        let base = format!("/api/v1/envs/{env}/apps");
        let answer = conn
            .send(&server.with_path(&base).post_json(&json!({ "name": app })))
            .await?;
        expect(&answer, &[201, 409], "creating the app")?;
        let cluster = format!("{base}/{app}/clusters/default/namespaces");
        if namespace != "application" {
            let body = json!({ "name": namespace, "format": "properties" });
            let answer = conn
                .send(&server.with_path(&cluster).post_json(&body))
                .await?;
            expect(&answer, &[201, 409], "creating the namespace")?;
        }
        Ok(Namespace {
            conn,
            server: server.clone(),
            path: format!("{cluster}/{namespace}"),
        })
    }

    /// Sets item `key` of the working copy.
    pub async fn put_item(&mut self, key: &str, value: &str) -> io::Result<()> {
        let url = self.server.with_path(&format!("{}/items", self.path));
        let answer = self
            .conn
            .send(&url.post_json(&json!({ "key": key, "value": value })))
            .await?;
        expect(&answer, &[200, 201], "putting an item")
    }

    /// The request that releases the working copy (for callers timing it themselves).
    pub fn release_request(&self, name: &str) -> Vec<u8> {
        let url = self.server.with_path(&format!("{}/releases", self.path));
        url.post_json(&json!({ "name": name }))
    }

    /// Releases the working copy; returns the new release key.
    pub async fn release(&mut self, name: &str) -> io::Result<String> {
        let request = self.release_request(name);
        let answer = self.conn.send(&request).await?;
        release_key(&answer)
    }

    /// The connection (to send [`Namespace::release_request`] on it).
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

/// The `release_key` of a release's answer.
pub fn release_key(answer: &Answer) -> io::Result<String> {
    expect(answer, &[201], "releasing")?;
    answer.json()?["data"]["release_key"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| io::Error::other("the release answer has no data.release_key"))
}

/// Fails unless the status is one of `ok`, quoting the server's message.
pub fn expect(answer: &Answer, ok: &[u16], doing: &str) -> io::Result<()> {
    if ok.contains(&answer.status) {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{doing}: status {}: {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    )))
}

/// The value of gauge `name` in a Prometheus text page (`GET /metrics`).
pub fn gauge(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let rest = line.strip_prefix(name)?;
            let value = rest.rsplit(' ').next()?;
            (rest.starts_with(' ') || rest.starts_with('{')).then(|| value.parse().ok())?
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_are_read_from_the_text_format() {
        let page = "# TYPE keel_config_parked_long_polls gauge\nkeel_config_parked_long_polls 42\nkeel_config_parked_long_polls_x 1\n";
        assert_eq!(gauge(page, "keel_config_parked_long_polls"), Some(42.0));
        assert_eq!(gauge(page, "missing"), None);
    }
}
