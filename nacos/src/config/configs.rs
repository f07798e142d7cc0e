//! `GET|POST|PUT|DELETE /nacos/v1/cs/configs`: read a config (or its beta with `beta=true`),
//! publish it (compare-and-set with the `casMd5` header, a beta for the IPs of the `betaIps`
//! header), delete it (or stop its beta).

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use keel_config_center::{
    ClientId, ConfigCenter, DocumentWrite, Error, GrayDocument, GrayRules, ServedDocument,
};
use serde_json::json;

use super::client::{Caller, actor, client_id};
use super::keys::{ConfigKey, config_key, env_of, keel_name, tenant};
use super::types::{config_type, format_of, media_type};
use super::{Configs, NO_CACHE, json_true, page_answer, page_of};
use crate::error::{NacosError, NacosResult, TEXT_PLAIN};
use crate::params::Params;

/// Nacos's body for a config that does not exist (`println`, hence the newline).
const NOT_FOUND_BODY: &str = "config data not exist\n";

/// `GET /nacos/v1/cs/configs`.
pub(crate) async fn read(
    State(configs): State<Arc<Configs>>,
    caller: Caller,
    params: Params,
) -> NacosResult {
    if let Some(mode) = params.get("search") {
        return search(&configs, &params, mode).await;
    }
    let key = config_key(&configs.settings, &params)?;
    if params.boolean("beta", false) {
        return read_beta(&configs, &key).await;
    }
    answer_read(&configs.center, &key, &client_id(caller.ip)).await
}

/// The document `client` reads for `key`, if there is one.
pub(crate) async fn read_document(
    center: &ConfigCenter,
    key: &ConfigKey,
    client: &ClientId,
) -> NacosResult<Option<ServedDocument>> {
    Ok(center
        .document(&keel_clog::Context::new(), &key.id, client)
        .await?)
}

/// The answer to a read of `key` by `client`: the document with Nacos's headers, or 404.
pub(crate) async fn answer_read(
    center: &ConfigCenter,
    key: &ConfigKey,
    client: &ClientId,
) -> NacosResult {
    let Some(doc) = read_document(center, key, client).await? else {
        return Ok(not_found());
    };
    // The cached text itself is the body: no copy per read.
    let mut response = Bytes::from_owner(SharedText(Arc::clone(&doc.text))).into_response();
    let headers = response.headers_mut();
    each_read_header(&doc, |name, value| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    });
    Ok(response)
}

/// Nacos's answer to a read of a config that does not exist.
pub(crate) fn not_found() -> axum::response::Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN))],
        NOT_FOUND_BODY,
    )
        .into_response()
}

/// Calls `emit` with each header of the answer reading `doc` (lower-case names, in Nacos's
/// order); the body is `doc.text`. The one list both the router and `keel serve`'s front answer
/// with.
pub(crate) fn each_read_header(doc: &ServedDocument, mut emit: impl FnMut(&'static str, &str)) {
    let kind = config_type(doc.content_type.as_deref(), doc.format);
    emit("content-type", media_type(kind));
    for (name, value) in NO_CACHE {
        emit(name, value);
    }
    emit("config-type", kind);
    emit("content-md5", &doc.md5);
    let modified = UNIX_EPOCH + Duration::from_millis(u64::try_from(doc.modified_at).unwrap_or(0));
    emit("last-modified", &httpdate::fmt_http_date(modified));
    if doc.gray {
        emit("isbeta", "true");
    }
}

/// `GET …?search=accurate&dataId=&group=`: one page of the configs of a tenant, with their
/// content; an empty `dataId` or `group` matches any. Names keel stores under an alias are
/// listed by the alias unless the request named them.
async fn search(configs: &Configs, params: &Params, mode: &str) -> NacosResult {
    if mode != "accurate" {
        return Err(NacosError::caused(format!(
            "search={mode} is not supported; use search=accurate (exact dataId and group, empty for any)"
        )));
    }
    let tenant = tenant(params.get("tenant"))?;
    let data_id = params.get("dataId").unwrap_or_default();
    let group = params.get("group").unwrap_or_default();
    let page = page_of(params)?;
    let named = |raw: &str| (!raw.is_empty()).then(|| keel_name(raw));
    let found = configs
        .center
        .store()
        .list_documents(
            &keel_clog::Context::new(),
            &env_of(&configs.settings, &tenant),
            named(group).as_deref(),
            named(data_id).as_deref(),
            page,
        )
        .await?;
    let items: Vec<_> = found
        .items
        .iter()
        .map(|(id, format, release)| {
            let text = keel_config_center::document::text_of(release, *format);
            json!({
                "id": release.release_key,
                "dataId": if data_id.is_empty() { id.namespace.as_str() } else { data_id },
                "group": if group.is_empty() { id.app.as_str() } else { group },
                "content": text,
                "md5": keel_config_center::document::md5_hex(&text),
                "encryptedDataKey": null,
                "tenant": tenant,
                "appName": "",
                "type": config_type(release.content_type.as_deref(), *format),
            })
        })
        .collect();
    Ok(page_answer(page, found.total, items))
}

/// A document's text as a body, shared with the cache.
struct SharedText(Arc<str>);

impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// `GET …?beta=true`: the config's beta, in Nacos's `RestResult` shape.
async fn read_beta(configs: &Configs, key: &ConfigKey) -> NacosResult {
    let ctx = keel_clog::Context::new();
    let gray = match configs.center.store().gray_release(&ctx, &key.id).await {
        Ok(gray) => gray,
        Err(Error::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let data = match gray {
        None => serde_json::Value::Null,
        Some(gray) => {
            let format = configs
                .center
                .store()
                .get_namespace(&ctx, &key.id)
                .await?
                .format;
            let text = keel_config_center::document::text_of(&gray.release, format);
            json!({
                "id": gray.release.release_key,
                "dataId": key.data_id,
                "group": key.group,
                "content": text,
                "md5": keel_config_center::document::md5_hex(&text),
                "encryptedDataKey": null,
                "tenant": key.tenant,
                "appName": "",
                "type": config_type(gray.release.content_type.as_deref(), format),
                "betaIps": gray.rules.ips.join(","),
            })
        }
    };
    Ok(axum::Json(json!({"code": 200, "message": "query beta ok", "data": data})).into_response())
}

/// `POST|PUT /nacos/v1/cs/configs`.
pub(crate) async fn publish(
    State(configs): State<Arc<Configs>>,
    caller: Caller,
    params: Params,
) -> NacosResult {
    let key = config_key(&configs.settings, &params)?;
    let content = params.get("content").unwrap_or_default();
    if content.trim().is_empty() {
        return Err(NacosError::caused("content is blank : "));
    }
    let (format, declared) = format_of(params.get("type"));
    let document = DocumentWrite {
        format,
        text: content,
        content_type: declared,
    };
    let actor = actor(&params);
    let detail = json!({
        "srcIp": caller.ip.map(|ip| ip.to_string()),
        "srcUser": params.optional("src_user"),
        "appName": params.optional("appName"),
        "desc": params.optional("desc"),
        "dataId": key.data_id,
        "group": key.group,
    });
    let ctx = keel_clog::Context::new();
    // With a beta, compared against the beta's MD5 (any, when there is no beta), as Nacos does.
    let expect = caller.header("casmd5").map(str::trim);
    if let Some(ips) = caller.header("betaips").filter(|v| !v.trim().is_empty()) {
        let rules = GrayRules {
            ips: ips
                .split(',')
                .map(str::trim)
                .filter(|ip| !ip.is_empty())
                .map(str::to_owned)
                .collect(),
            ..GrayRules::default()
        };
        let gray = GrayDocument {
            document,
            expect_md5: expect,
            detail: &detail,
        };
        let published = configs
            .center
            .gray_document(&ctx, &key.id, gray, &rules, &actor)
            .await;
        return cas_answer(published.map(|_| ()), expect);
    }
    let published = configs
        .center
        .publish_document(&ctx, &key.id, document, expect, &actor, detail)
        .await;
    cas_answer(published.map(|_| ()), expect)
}

/// The answer to a publish that was a compare-and-set when `expect` is set.
fn cas_answer(published: keel_config_center::Result<()>, expect: Option<&str>) -> NacosResult {
    match published {
        Ok(()) => Ok(json_true()),
        // Nacos answers 500 here; a stale compare-and-set is the client's conflict, not an
        // outage (clients would try the next server), so keel answers 409 with Nacos's text.
        Err(Error::Conflict(_)) if expect.is_some() => Err(NacosError::status(
            StatusCode::CONFLICT,
            "caused: Cas publish fail, server md5 may have changed.;",
        )),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /nacos/v1/cs/configs`: `true` whether or not the config existed.
pub(crate) async fn delete(
    State(configs): State<Arc<Configs>>,
    caller: Caller,
    params: Params,
) -> NacosResult {
    let key = config_key(&configs.settings, &params)?;
    let ctx = keel_clog::Context::new();
    let actor = actor(&params);
    if params.boolean("beta", false) {
        let stopped = match configs.center.end_gray(&ctx, &key.id, &actor).await {
            Ok(_) | Err(Error::NotFound(_)) => true,
            Err(e) => return Err(e.into()),
        };
        return Ok(
            axum::Json(json!({"code": 200, "message": "stop beta ok", "data": stopped}))
                .into_response(),
        );
    }
    let detail = json!({
        "srcIp": caller.ip.map(|ip| ip.to_string()),
        "srcUser": params.optional("src_user"),
        "appName": params.optional("appName"),
        "dataId": key.data_id,
        "group": key.group,
    });
    configs
        .center
        .delete_document(&ctx, &key.id, &actor, detail)
        .await?;
    Ok(json_true())
}
