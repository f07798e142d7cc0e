//! `GET /nacos/v1/cs/history`: a config's history (`search=accurate`, newest first) and one
//! entry by id (`nid`), from keel's history of the namespace — every write that changed what
//! it serves, including those of a namespace of the same names deleted since.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use keel_config_center::HistoryEntry;
use serde_json::{Value, json};

use super::keys::{ConfigKey, config_key};
use super::{Configs, page_answer, page_of};
use crate::error::{NacosError, NacosResult};
use crate::params::{Params, parse_int};

/// `GET /nacos/v1/cs/history`.
pub(crate) async fn history(State(configs): State<Arc<Configs>>, params: Params) -> NacosResult {
    let key = config_key(&configs.settings, &params)?;
    if let Some(nid) = params.optional("nid") {
        let nid = parse_int(nid)?;
        return one(&configs, &key, nid).await;
    }
    if params.optional("search").is_none() {
        return Err(NacosError::caused(
            "give search=accurate to list a config's history, or nid=<id> for one entry",
        ));
    }
    let page = page_of(&params)?;
    let found = configs
        .center
        .store()
        .serving_history(&keel_clog::Context::new(), &key.id, page)
        .await?;
    let items: Vec<Value> = found
        .items
        .iter()
        .map(|entry| item(&key, entry, None))
        .collect();
    Ok(page_answer(page, found.total, items))
}

/// One entry with its content; an unknown id answers 200 with no body (as Nacos does), an id
/// of another config 403.
async fn one(configs: &Configs, key: &ConfigKey, nid: i64) -> NacosResult {
    let ctx = keel_clog::Context::new();
    let store = configs.center.store();
    let Some((id, entry)) = store.history_entry(&ctx, nid).await? else {
        return Ok(StatusCode::OK.into_response());
    };
    if id != key.id || !keel_config_center::SERVING_ACTIONS.contains(&entry.action.as_str()) {
        return Err(NacosError::status(
            StatusCode::FORBIDDEN,
            "caused: Please check dataId, group or namespaceId.;",
        ));
    }
    // The content the entry made current (or, for a delete, removed): recorded with it for
    // Nacos publishes and deletes, else read from the release it names, while that exists.
    let content = match entry.detail.get("content").and_then(Value::as_str) {
        Some(text) => Some(text.to_owned()),
        None if entry.action.starts_with("release.") || entry.action == "gray.merge" => {
            store.release_document(&ctx, &id, &entry.target).await?
        }
        None => None,
    };
    Ok(axum::Json(item(key, &entry, Some(content))).into_response())
}

/// A history entry in Nacos's `ConfigHistoryInfo` shape. `content` is `None` in lists (Nacos
/// leaves `md5` and `content` out of them).
fn item(key: &ConfigKey, entry: &HistoryEntry, content: Option<Option<String>>) -> Value {
    let detail = &entry.detail;
    let text = |name: &str| detail.get(name).and_then(Value::as_str);
    let (op_type, publish_type) = match entry.action.as_str() {
        "release.create" if detail.get("previous").is_some_and(Value::is_null) => ("I", "formal"),
        "namespace.delete" => ("D", "formal"),
        "gray.create" => ("U", "gray"),
        "gray.abandon" => ("D", "gray"),
        _ => ("U", "formal"),
    };
    let (md5, content) = match content {
        None => (Value::Null, Value::Null),
        Some(content) => {
            let md5 = content
                .as_deref()
                .map(keel_config_center::document::md5_hex);
            (json!(md5), json!(content))
        }
    };
    let at = iso_time(entry.at);
    json!({
        "id": entry.id.to_string(),
        "lastId": -1,
        "dataId": key.data_id,
        "group": key.group,
        "tenant": key.tenant,
        "appName": text("appName").unwrap_or_default(),
        "md5": md5,
        "content": content,
        "srcIp": text("srcIp").unwrap_or_default(),
        "srcUser": text("srcUser").unwrap_or(entry.actor.as_str()),
        "opType": op_type,
        "publishType": publish_type,
        "grayName": if publish_type == "gray" { json!("beta") } else { Value::Null },
        "createdTime": at,
        "lastModifiedTime": at,
    })
}

/// Unix ms as ISO 8601 with a `+00:00` offset, as newer Nacos writes dates.
fn iso_time(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    // httpdate has no ISO form; humantime's RFC 3339 with milliseconds ends in `Z`.
    let rfc3339 = humantime::format_rfc3339_millis(time).to_string();
    match rfc3339.strip_suffix('Z') {
        Some(local) => format!("{local}+00:00"),
        None => rfc3339,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_iso_8601_with_an_offset() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000+00:00");
        assert_eq!(iso_time(1_718_000_000_123), "2024-06-10T06:13:20.123+00:00");
    }

    #[test]
    fn entries_take_nacos_op_types() {
        let key = super::super::keys::resolve(&crate::NacosSettings::default(), "d", "g", "", "")
            .unwrap();
        let entry = |action: &str, detail: Value| HistoryEntry {
            id: 7,
            at: 0,
            actor: "nacos".into(),
            action: action.into(),
            target: "r".into(),
            detail,
        };
        let first = item(
            &key,
            &entry("release.create", json!({"previous": null})),
            None,
        );
        assert_eq!(first["opType"], "I");
        assert_eq!(first["id"], "7");
        assert!(first["content"].is_null());
        let later = item(
            &key,
            &entry("release.create", json!({"previous": "r0"})),
            None,
        );
        assert_eq!(later["opType"], "U");
        let gone = item(
            &key,
            &entry("namespace.delete", json!({"srcUser": "ann"})),
            Some(Some("a=1".into())),
        );
        assert_eq!(gone["opType"], "D");
        assert_eq!(gone["srcUser"], "ann");
        assert_eq!(gone["md5"], keel_config_center::document::md5_hex("a=1"));
        assert_eq!(
            item(&key, &entry("gray.create", json!({})), None)["publishType"],
            "gray"
        );
    }
}
