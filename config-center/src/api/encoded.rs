//! The answer of a full config read, serialised once per release.
//!
//! A release is immutable and the node keeps it in memory as one `Arc<Release>` while it is
//! current, so every client reading it gets the same bytes: they are encoded on the first read
//! and every later read clones a `Bytes` (a reference count) instead of building and
//! serialising the JSON envelope again.
//!
//! Entries are keyed by the `Arc`'s address and hold a `Weak` to it: while the entry exists the
//! allocation cannot be reused by another release (a `Weak` keeps it), so an address names one
//! release for as long as it is in the map. Entries whose release is gone are swept whenever
//! the map has doubled since the last sweep.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::Release;

/// The smallest map that is swept.
const MIN_SWEEP: usize = 256;

#[derive(Default)]
struct Cache {
    bodies: HashMap<usize, (Weak<Release>, Bytes)>,
    sweep_at: usize,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The JSON of `{"code":0,"message":"success","data":{...}}` for `release`, built as the
/// handler always built it (the same `serde_json::Value`, so the same bytes).
fn encode(release: &Release) -> Bytes {
    let envelope = serde_json::json!({
        "code": 0,
        "message": "success",
        "data": {
            "namespace": release.namespace,
            "release_key": release.release_key,
            "configs": release.configs,
            "incremental": false,
        },
    });
    Bytes::from(envelope.to_string())
}

/// The encoded full answer for `release`, from the cache when it was encoded before.
pub(crate) fn full_body(release: &Arc<Release>) -> Bytes {
    let address = Arc::as_ptr(release) as usize;
    {
        let cache = cache().lock().unwrap_or_else(|p| p.into_inner());
        // The entry's `Weak` keeps the allocation, so this address is this release.
        if let Some((_, body)) = cache.bodies.get(&address) {
            return body.clone();
        }
    }
    let body = encode(release);
    let mut cache = cache().lock().unwrap_or_else(|p| p.into_inner());
    if cache.bodies.len() >= cache.sweep_at.max(MIN_SWEEP) {
        cache.bodies.retain(|_, (weak, _)| weak.strong_count() > 0);
        cache.sweep_at = 2 * cache.bodies.len();
    }
    cache
        .bodies
        .insert(address, (Arc::downgrade(release), body.clone()));
    body
}

/// A 200 answer with a JSON `body`.
pub(crate) fn json_response(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::NamespaceId;

    fn release(key: &str) -> Arc<Release> {
        Arc::new(Release {
            release_key: key.into(),
            namespace: NamespaceId {
                env: "dev".into(),
                app: "a".into(),
                cluster: "default".into(),
                namespace: "application".into(),
            },
            name: String::new(),
            comment: String::new(),
            configs: [("k".to_owned(), "v\"1".to_owned())].into(),
            created_at: 0,
            created_by: String::new(),
            rolled_back_from: None,
            raw_content: None,
            content_type: None,
        })
    }

    #[test]
    fn the_cached_body_is_the_envelope_the_handler_used_to_build() {
        let r = release("r1");
        let expected = serde_json::json!({"code": 0, "message": "success", "data": {
            "namespace": r.namespace, "release_key": r.release_key, "configs": r.configs,
            "incremental": false,
        }});
        let body = full_body(&r);
        assert_eq!(body, expected.to_string().as_bytes());
        // The second read is the same bytes, not a new encoding.
        assert_eq!(full_body(&r).as_ptr(), body.as_ptr());
    }

    #[test]
    fn a_new_release_at_a_reused_address_is_encoded_again() {
        for i in 0..3 * MIN_SWEEP {
            let key = format!("r{i}");
            let r = release(&key);
            let body = full_body(&r);
            assert!(
                String::from_utf8_lossy(&body).contains(&key),
                "{key} served another release's body"
            );
        }
        let kept = cache().lock().unwrap().bodies.len();
        assert!(kept <= 2 * MIN_SWEEP + 1, "{kept} bodies kept");
    }
}
