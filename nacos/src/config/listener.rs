//! `POST /nacos/v1/cs/configs/listener`: the long poll Nacos clients watch configs with.
//!
//! The client lists the configs it holds with the MD5 of each (`Listening-Configs`, records
//! `dataId ^2 group ^2 md5 [^2 tenant] ^1`). The answer lists the configs whose MD5 differs,
//! at once if any does, else as soon as one changes, else empty when the hold time is up
//! (`max(10 s, Long-Pulling-Timeout − 500 ms)`, at most 120 s).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use keel_config_center::{ClientId, ConfigCenter};

use super::client::{Caller, client_id};
use super::keys::{ConfigKey, resolve, tenant};
use super::{Configs, no_cache};
use crate::error::{NacosError, NacosResult, TEXT_PLAIN};
use crate::params::{Params, parse_int};

/// Separates the fields of a record.
const WORD: char = '\u{2}';
/// Ends a record.
const LINE: char = '\u{1}';
/// Most records one poll may list (Nacos's limit).
const MAX_RECORDS: usize = 10_000;
/// The shortest hold, and how much earlier than the client's timeout the answer is sent.
const MIN_HOLD: Duration = Duration::from_secs(10);
const EARLY: Duration = Duration::from_millis(500);
/// The longest hold (keel's native long poll has the same cap).
const MAX_HOLD: Duration = Duration::from_secs(120);

/// One watched config and the MD5 the client holds (`""`: it has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) key: ConfigKey,
    pub(crate) md5: String,
}

/// `MD5Util.getClientMd5Map`: the records of a `Listening-Configs` value.
pub(crate) fn parse_records(
    settings: &crate::NacosSettings,
    text: &str,
) -> NacosResult<Vec<Record>> {
    let invalid = || NacosError::caused("invalid probeModify");
    let mut records = Vec::new();
    // Text after the last record separator is ignored, as Nacos does.
    let Some((complete, _)) = text.rsplit_once(LINE) else {
        return Err(invalid());
    };
    for line in complete.split(LINE) {
        let fields: Vec<&str> = line.split(WORD).collect();
        let (data_id, group, md5, written_tenant) = match fields.as_slice() {
            [d, g, m] => (*d, *g, *m, ""),
            [d, g, m, t] => (*d, *g, *m, *t),
            _ => return Err(invalid()),
        };
        let normalized = tenant(Some(written_tenant))?;
        let key = resolve(settings, data_id, group, &normalized, written_tenant)?;
        records.push(Record {
            key,
            md5: md5.to_owned(),
        });
        if records.len() > MAX_RECORDS {
            return Err(invalid());
        }
    }
    if records.is_empty() {
        return Err(invalid());
    }
    Ok(records)
}

/// The answer listing `changed` configs: `dataId ^2 group [^2 tenant] ^1` each (the tenant as
/// the client wrote it, left out when empty), URL-encoded as Java's `URLEncoder` does, and a
/// newline.
pub(crate) fn encode_changed<'a>(changed: impl IntoIterator<Item = &'a ConfigKey>) -> String {
    let mut plain = String::new();
    for key in changed {
        plain.push_str(&key.data_id);
        plain.push(WORD);
        plain.push_str(&key.group);
        if !key.tenant.is_empty() {
            plain.push(WORD);
            plain.push_str(&key.tenant);
        }
        plain.push(LINE);
    }
    let mut encoded: String = url::form_urlencoded::byte_serialize(plain.as_bytes()).collect();
    encoded.push('\n');
    encoded
}

/// How long to hold a poll whose client times out after `client_ms`.
fn hold(client_ms: i64) -> Duration {
    let client = Duration::from_millis(u64::try_from(client_ms).unwrap_or(0));
    client.saturating_sub(EARLY).clamp(MIN_HOLD, MAX_HOLD)
}

/// A validated listener poll: what it watches and how long it may wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Poll {
    records: Vec<Record>,
    /// Zero for a short poll (no `Long-Pulling-Timeout`) or `No-Hangup`.
    wait: Duration,
    ip: Option<IpAddr>,
}

impl Poll {
    /// The poll `params` and `headers` describe, from `ip`; Nacos's 400s otherwise.
    pub(crate) fn parse(
        settings: &crate::NacosSettings,
        params: &Params,
        headers: &HeaderMap,
        ip: Option<IpAddr>,
    ) -> NacosResult<Self> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let listening = params
            .get("Listening-Configs")
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| NacosError::caused("invalid probeModify"))?;
        let records = parse_records(settings, listening)?;
        let timeout = match header("long-pulling-timeout") {
            // Without the header Nacos answers at once (short polling).
            None => Duration::ZERO,
            Some(value) => hold(
                parse_int(value.trim())
                    .map_err(|_| NacosError::caused(format!("For input string: \"{value}\"")))?,
            ),
        };
        let no_hangup = header("long-pulling-timeout-no-hangup")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Ok(Poll {
            records,
            wait: if no_hangup { Duration::ZERO } else { timeout },
            ip,
        })
    }

    /// Whether it may wait at all (else it is answered at once).
    pub(crate) fn waits(&self) -> bool {
        !self.wait.is_zero()
    }

    /// How long it may wait.
    pub(crate) fn wait(&self) -> Duration {
        self.wait
    }

    /// The one config it watches, when it watches exactly one.
    pub(crate) fn single(&self) -> Option<&Record> {
        match self.records.as_slice() {
            [record] => Some(record),
            _ => None,
        }
    }

    /// The client gray (beta) rules are matched against.
    pub(crate) fn client(&self) -> ClientId {
        client_id(self.ip)
    }

    /// Waits as Nacos does and answers: the changed keys, or nothing at the end of the hold.
    pub(crate) async fn answer(&self, center: &ConfigCenter) -> NacosResult {
        let watches: Vec<_> = self
            .records
            .iter()
            .map(|r| (r.key.id.clone(), r.md5.clone()))
            .collect();
        let changed = center
            .wait_for_documents(
                &keel_clog::Context::new(),
                &watches,
                &self.client(),
                self.wait,
            )
            .await?;
        if changed.is_empty() {
            return Ok(listener_answer(String::new()));
        }
        Ok(listener_answer(encode_changed(
            changed
                .iter()
                .filter_map(|&i| self.records.get(i))
                .map(|r| &r.key),
        )))
    }
}

/// `POST /nacos/v1/cs/configs/listener`.
pub(crate) async fn listen(
    State(configs): State<Arc<Configs>>,
    caller: Caller,
    params: Params,
) -> NacosResult {
    Poll::parse(&configs.settings, &params, &caller.headers, caller.ip)?
        .answer(&configs.center)
        .await
}

/// A listener's answer with `body`: the encoded changed keys, or empty (nothing changed).
pub(crate) fn listener_answer(body: String) -> Response {
    (
        no_cache(),
        [(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN))],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NacosSettings;

    fn settings() -> NacosSettings {
        NacosSettings::default()
    }

    #[test]
    fn records_in_the_old_and_new_forms() {
        // MD5UtilTest.testGetClientMd5Map / ForNewProtocol (nacos-wire.md F8, F9).
        let old = parse_records(&settings(), "test0\u{2}test1\u{2}test2\u{1}").unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].key.data_id, "test0");
        assert_eq!(old[0].key.group, "test1");
        assert_eq!(old[0].md5, "test2");
        assert_eq!(old[0].key.tenant, "");
        let new = parse_records(&settings(), "test0\u{2}test1\u{2}test2\u{2}test3\u{1}").unwrap();
        assert_eq!(new[0].key.tenant, "test3");
        assert_eq!(new[0].key.id.env, "test3");
        // nacos-sdk-python sends four fields with an empty tenant.
        let py = parse_records(&settings(), "d1\u{2}DEFAULT_GROUP\u{2}\u{2}\u{1}").unwrap();
        assert_eq!(py[0].md5, "");
        assert_eq!(py[0].key.id.env, "public");
        // `public` is looked up as the public namespace but echoed as written.
        let public = parse_records(&settings(), "d\u{2}G\u{2}m\u{2}public\u{1}").unwrap();
        assert_eq!(public[0].key.id.env, "public");
        assert_eq!(public[0].key.tenant, "public");
        for bad in [
            "",
            "a\u{2}b\u{1}",
            "a\u{2}b\u{2}c\u{2}d\u{2}e\u{1}",
            "no separator",
        ] {
            assert!(parse_records(&settings(), bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn changed_keys_are_url_encoded_lines() {
        let records = parse_records(
            &settings(),
            "d1\u{2}DEFAULT_GROUP\u{2}x\u{2}\u{1}test0\u{2}test1\u{2}y\u{2}test2\u{1}",
        )
        .unwrap();
        assert_eq!(encode_changed([&records[0].key]), "d1%02DEFAULT_GROUP%01\n");
        assert_eq!(
            encode_changed([&records[1].key]),
            "test0%02test1%02test2%01\n"
        );
        assert_eq!(
            encode_changed(records.iter().map(|r| &r.key)),
            "d1%02DEFAULT_GROUP%01test0%02test1%02test2%01\n"
        );
    }

    #[test]
    fn holds_follow_nacos_with_keels_cap() {
        assert_eq!(hold(30_000), Duration::from_millis(29_500));
        assert_eq!(hold(5_000), Duration::from_secs(10));
        assert_eq!(hold(-1), Duration::from_secs(10));
        assert_eq!(hold(600_000), Duration::from_secs(120));
    }
}
