//! Documents: a namespace published as one text (the Nacos API) — created on demand, the
//! working copy made to match, the text kept byte for byte beside the parsed items,
//! compare-and-set on the document's MD5, a gray document, delete with the content recorded,
//! and the history of a config across a delete.
#![allow(clippy::unwrap_used)]

use keel_config_center::document::{md5_hex, text_of};
use keel_config_center::{
    ConfigStore, DocumentWrite, Format, GrayDocument, GrayRules, NamespaceId, NewGray, Release,
};
use serde_json::json;

use super::{
    ACTOR, ENV, app_ns, configs, count, expect_conflict, expect_invalid, new_app, ns_id, page,
    write,
};
use crate::store::{Fixture, ctx};

/// Publishes `document` as `key` (compare-and-set on `cas`), with no history detail.
async fn publish(
    s: &ConfigStore,
    id: &NamespaceId,
    document: DocumentWrite<'_>,
    key: &str,
    cas: Option<&str>,
) -> keel_config_center::Result<Release> {
    s.publish_document(&ctx(), id, document, key, cas, ACTOR, json!({}))
        .await
}

fn doc<'a>(format: Format, text: &'a str, content_type: &'a str) -> DocumentWrite<'a> {
    DocumentWrite {
        format,
        text,
        content_type,
    }
}

/// `document` as a gray release, compare-and-set on `cas`, recording where it came from.
fn gray_doc<'a>(document: DocumentWrite<'a>, cas: Option<&'a str>) -> GrayDocument<'a> {
    static DETAIL: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(|| json!({"srcIp": "10.0.0.9", "name": "not this"}));
    GrayDocument {
        document,
        expect_md5: cas,
        detail: &DETAIL,
    }
}

pub(crate) async fn publishing_a_document_creates_replaces_and_releases(f: &Fixture) {
    let s = &f.store;
    let id = ns_id("G", "default", "d1");
    let text = "# db\nb = 2\na=1\n";
    let first = s
        .publish_document(
            &ctx(),
            &id,
            doc(Format::Properties, text, "properties"),
            "r1",
            None,
            ACTOR,
            json!({"srcIp": "10.0.0.1"}),
        )
        .await
        .unwrap();
    // The app, its default cluster and the namespace were created; the release holds both.
    s.get_app(&ctx(), ENV, "G").await.unwrap();
    assert_eq!(first.configs, configs(&[("a", "1"), ("b", "2")]));
    assert_eq!(first.raw_content.as_deref(), Some(text));
    assert_eq!(first.content_type.as_deref(), Some("properties"));
    let current = s.current_release(&ctx(), &id).await.unwrap().unwrap();
    assert_eq!(current, first);
    assert_eq!(text_of(&current, Format::Properties), text);
    // The working copy matches: a changed key gets the next version, an unchanged one keeps it.
    let before = s.list_items(&ctx(), &id).await.unwrap();
    let second = publish(
        s,
        &id,
        doc(Format::Properties, "a=1\nc=3", "properties"),
        "r2",
        None,
    )
    .await
    .unwrap();
    assert_eq!(second.configs, configs(&[("a", "1"), ("c", "3")]));
    let after = s.list_items(&ctx(), &id).await.unwrap();
    let keys: Vec<_> = after.iter().map(|i| (i.key.as_str(), i.version)).collect();
    assert_eq!(keys, [("a", before[0].version), ("c", 1)]);
    // Compare-and-set on the current document's MD5.
    expect_conflict(
        publish(
            s,
            &id,
            doc(Format::Properties, "x=1", "properties"),
            "r3",
            Some(&md5_hex(text)),
        )
        .await,
        "MD5",
    );
    publish(
        s,
        &id,
        doc(Format::Properties, "x=1", "properties"),
        "r3",
        Some(&md5_hex("a=1\nc=3")),
    )
    .await
    .unwrap();
    // Another format replaces the namespace's format and its items with `content`.
    let json_doc = publish(
        s,
        &id,
        doc(Format::Json, "{\"k\": [1]}", "json"),
        "r4",
        None,
    )
    .await
    .unwrap();
    assert_eq!(json_doc.raw_content, None);
    assert_eq!(
        s.get_namespace(&ctx(), &id).await.unwrap().format,
        Format::Json
    );
    assert_eq!(s.list_items(&ctx(), &id).await.unwrap().len(), 1);
    // Bad documents change nothing.
    expect_invalid(
        publish(s, &id, doc(Format::Json, "{", "json"), "r5", None).await,
        "not valid json",
    );
    expect_invalid(
        publish(
            s,
            &id,
            doc(Format::Properties, "a=\\u12", "properties"),
            "r5",
            None,
        )
        .await,
        "\\uxxxx",
    );
    expect_invalid(
        publish(
            s,
            &id,
            doc(Format::Properties, "bad\\ key=1", "properties"),
            "r5",
            None,
        )
        .await,
        "whitespace",
    );
    assert_eq!(count(s, "cc_releases").await, 4);
    // Listing: namespaces of `default` clusters with a release, by app and name, filtered.
    publish(
        s,
        &ns_id("G", "default", "d0"),
        doc(Format::Text, "zero", "text"),
        "r5",
        None,
    )
    .await
    .unwrap();
    s.create_app(&ctx(), ENV, &new_app("empty"), ACTOR)
        .await
        .unwrap();
    let all = s
        .list_documents(&ctx(), ENV, None, None, page(1, 10))
        .await
        .unwrap();
    let listed: Vec<_> = all
        .items
        .iter()
        .map(|(id, format, r)| {
            (
                id.app.as_str(),
                id.namespace.as_str(),
                *format,
                r.release_key.as_str(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("G", "d0", Format::Text, "r5"),
            ("G", "d1", Format::Json, "r4")
        ]
    );
    assert_eq!(all.total, 2);
    let one = s
        .list_documents(&ctx(), ENV, Some("G"), Some("d1"), page(1, 10))
        .await
        .unwrap();
    assert_eq!(one.total, 1);
    let none = s
        .list_documents(&ctx(), ENV, Some("empty"), None, page(1, 10))
        .await
        .unwrap();
    assert_eq!((none.total, none.items.len()), (0, 0));
    let second = s
        .list_documents(&ctx(), ENV, None, None, page(2, 1))
        .await
        .unwrap();
    assert_eq!(second.items[0].0.namespace, "d1");
}

pub(crate) async fn gray_documents_and_deletes(f: &Fixture) {
    let s = &f.store;
    let id = ns_id("G", "default", "cfg");
    publish(s, &id, doc(Format::Text, "formal", "html"), "r1", None)
        .await
        .unwrap();
    s.put_item(&ctx(), &id, &write("content", "draft", None), ACTOR)
        .await
        .unwrap();
    let rules = GrayRules {
        ips: vec!["10.0.0.1".into()],
        labels: Vec::new(),
    };
    let new = NewGray {
        release_key: "g1",
        name: "beta",
        comment: "",
        rules: &rules,
    };
    let gray = s
        .create_gray_document(
            &ctx(),
            &id,
            new,
            gray_doc(doc(Format::Text, "beta", "html"), None),
            ACTOR,
        )
        .await
        .unwrap();
    // The gray is the given document, not the working copy (which keeps its draft).
    assert_eq!(gray.release.configs, configs(&[("content", "beta")]));
    assert_eq!(s.gray_release(&ctx(), &id).await.unwrap().unwrap(), gray);
    assert_eq!(
        s.get_item(&ctx(), &id, "content").await.unwrap().value,
        "draft"
    );
    expect_invalid(
        s.create_gray_document(
            &ctx(),
            &id,
            NewGray {
                release_key: "g2",
                ..new
            },
            gray_doc(doc(Format::Json, "{}", "json"), None),
            ACTOR,
        )
        .await,
        "cannot change the format",
    );
    // Compare-and-set against the active gray's document: a stale MD5 is a conflict and
    // changes nothing; the current one replaces it.
    let beta_v2 = NewGray {
        release_key: "g3",
        ..new
    };
    expect_conflict(
        s.create_gray_document(
            &ctx(),
            &id,
            beta_v2,
            gray_doc(
                doc(Format::Text, "beta 2", "html"),
                Some(&md5_hex("formal")),
            ),
            ACTOR,
        )
        .await,
        "gray release",
    );
    assert_eq!(s.gray_release(&ctx(), &id).await.unwrap().unwrap(), gray);
    let md5_beta = md5_hex("beta");
    let replaced = s
        .create_gray_document(
            &ctx(),
            &id,
            beta_v2,
            gray_doc(doc(Format::Text, "beta 2", "html"), Some(&md5_beta)),
            ACTOR,
        )
        .await
        .unwrap();
    assert_eq!(replaced.release.configs, configs(&[("content", "beta 2")]));
    // Deleting records what was served; deleting nothing says so.
    assert!(
        s.delete_document(&ctx(), &id, ACTOR, json!({"srcUser": "bob"}))
            .await
            .unwrap()
    );
    assert!(
        !s.delete_document(&ctx(), &id, ACTOR, json!({}))
            .await
            .unwrap()
    );
    assert!(s.get_namespace(&ctx(), &id).await.is_err());
    // The history of the config goes on across the delete and a re-creation.
    publish(s, &id, doc(Format::Text, "again", "text"), "r2", None)
        .await
        .unwrap();
    let history = s.serving_history(&ctx(), &id, page(1, 10)).await.unwrap();
    let actions: Vec<_> = history.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "release.create",
            "namespace.delete",
            "gray.create",
            "gray.create",
            "release.create"
        ]
    );
    // The gray's entry has the publisher's fields, but its own where names meet.
    assert_eq!(history.items[2].detail["srcIp"], "10.0.0.9");
    assert_eq!(history.items[2].detail["name"], "beta");
    assert_eq!(history.items[2].detail["replaced"], "g1");
    let deleted = &history.items[1];
    assert_eq!(deleted.detail["content"], "formal");
    assert_eq!(deleted.detail["md5"], md5_hex("formal"));
    assert_eq!(deleted.detail["srcUser"], "bob");
    assert!(history.items[4].detail["previous"].is_null());
    let (found, entry) = s.history_entry(&ctx(), deleted.id).await.unwrap().unwrap();
    assert_eq!((found, entry), (id.clone(), deleted.clone()));
    assert!(s.history_entry(&ctx(), 1 << 40).await.unwrap().is_none());
    // The `application` namespace every app keeps is emptied instead.
    s.create_app(&ctx(), ENV, &new_app("shop"), ACTOR)
        .await
        .unwrap();
    let app = app_ns("shop");
    s.put_item(&ctx(), &app, &write("k", "v", None), ACTOR)
        .await
        .unwrap();
    s.create_release(&ctx(), &app, "a1", "", "", ACTOR)
        .await
        .unwrap();
    assert_eq!(
        s.release_document(&ctx(), &app, "a1")
            .await
            .unwrap()
            .as_deref(),
        Some("k=v\n")
    );
    assert!(
        s.delete_document(&ctx(), &app, ACTOR, json!({}))
            .await
            .unwrap()
    );
    assert!(s.current_release(&ctx(), &app).await.unwrap().is_none());
    assert!(s.list_items(&ctx(), &app).await.unwrap().is_empty());
    assert!(
        !s.delete_document(&ctx(), &app, ACTOR, json!({}))
            .await
            .unwrap()
    );
}
