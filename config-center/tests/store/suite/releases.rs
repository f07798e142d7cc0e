//! Releases, rollback and history.
#![allow(clippy::unwrap_used)]

use keel_config_center::Format;

use super::{
    ACTOR, ENV, app_ns, cluster_id, configs, count, expect_conflict, expect_invalid,
    expect_not_found, new_app, ns_id, page, write,
};
use crate::store::{Fixture, ctx};

/// A release made with an Idempotency-Key is made once: repeating the key (even with another
/// release key and after the items changed) returns it; another key makes a new one.
pub(crate) async fn an_idempotency_key_makes_one_release(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("deploys"), ACTOR)
        .await
        .unwrap();
    let id = app_ns("deploys");
    s.put_item(&ctx(), &id, &write("a", "1", None), ACTOR)
        .await
        .unwrap();
    let first = s
        .create_release_once(&ctx(), &id, "k1", "v1", "", ACTOR, "deploy-7")
        .await
        .unwrap();
    s.put_item(&ctx(), &id, &write("a", "2", None), ACTOR)
        .await
        .unwrap();
    let again = s
        .create_release_once(&ctx(), &id, "k2", "v1", "", ACTOR, "deploy-7")
        .await
        .unwrap();
    assert_eq!(again.release_key, "k1");
    assert_eq!(again.configs, configs(&[("a", "1")]));
    assert_eq!(again.created_at, first.created_at);
    let other = s
        .create_release_once(&ctx(), &id, "k3", "v2", "", ACTOR, "deploy-8")
        .await
        .unwrap();
    assert_eq!(other.release_key, "k3");
    assert_eq!(other.configs, configs(&[("a", "2")]));
    // Releases without a key never collide with each other.
    s.create_release(&ctx(), &id, "k4", "", "", ACTOR)
        .await
        .unwrap();
    s.create_release(&ctx(), &id, "k5", "", "", ACTOR)
        .await
        .unwrap();
    let listed = s.list_releases(&ctx(), &id, page(1, 50)).await.unwrap();
    assert_eq!(listed.items.len(), 4, "k2 must not exist");
}

pub(crate) async fn release_is_a_snapshot(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    let id = app_ns("orders");
    s.put_item(&ctx(), &id, &write("a", "1", None), ACTOR)
        .await
        .unwrap();
    s.put_item(&ctx(), &id, &write("b", "2", None), ACTOR)
        .await
        .unwrap();
    let r1 = s
        .create_release(&ctx(), &id, "r1", "first", "initial", "bob")
        .await
        .unwrap();
    assert_eq!(r1.configs, configs(&[("a", "1"), ("b", "2")]));
    assert_eq!(
        (
            r1.release_key.as_str(),
            r1.name.as_str(),
            r1.comment.as_str(),
            r1.created_by.as_str()
        ),
        ("r1", "first", "initial", "bob")
    );
    assert_eq!(r1.namespace, id);
    assert_eq!(r1.rolled_back_from, None);
    assert_eq!(
        s.current_release(&ctx(), &id).await.unwrap(),
        Some(r1.clone())
    );

    // The working copy moves on; the release does not.
    s.put_item(&ctx(), &id, &write("a", "changed", None), ACTOR)
        .await
        .unwrap();
    s.delete_item(&ctx(), &id, "b", None, ACTOR).await.unwrap();
    s.put_item(&ctx(), &id, &write("c", "3", None), ACTOR)
        .await
        .unwrap();
    assert_eq!(s.get_release(&ctx(), &id, "r1").await.unwrap(), r1);
    assert_eq!(
        s.current_release(&ctx(), &id).await.unwrap(),
        Some(r1.clone())
    );

    let r2 = s
        .create_release(&ctx(), &id, "r2", "second", "", ACTOR)
        .await
        .unwrap();
    assert_eq!(r2.configs, configs(&[("a", "changed"), ("c", "3")]));
    assert_eq!(
        s.current_release(&ctx(), &id).await.unwrap(),
        Some(r2.clone())
    );
    assert_eq!(s.get_release(&ctx(), &id, "r1").await.unwrap(), r1);

    // An empty namespace releases an empty configuration.
    s.create_namespace(
        &ctx(),
        &cluster_id("orders", "default"),
        "empty",
        Format::Properties,
        ACTOR,
    )
    .await
    .unwrap();
    let empty = s
        .create_release(
            &ctx(),
            &ns_id("orders", "default", "empty"),
            "e1",
            "",
            "",
            ACTOR,
        )
        .await
        .unwrap();
    assert!(empty.configs.is_empty());
    // A release belongs to its namespace only.
    expect_not_found(
        s.get_release(&ctx(), &ns_id("orders", "default", "empty"), "r1")
            .await,
        "release \"r1\" not found in namespace dev/orders/default/empty",
    );
}

pub(crate) async fn release_keys_are_unique(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    s.create_app(&ctx(), ENV, &new_app("payments"), ACTOR)
        .await
        .unwrap();
    s.create_release(&ctx(), &app_ns("orders"), "r1", "", "", ACTOR)
        .await
        .unwrap();
    expect_conflict(
        s.create_release(&ctx(), &app_ns("orders"), "r1", "", "", ACTOR)
            .await,
        "release key \"r1\" is already used",
    );
    expect_conflict(
        s.create_release(&ctx(), &app_ns("payments"), "r1", "", "", ACTOR)
            .await,
        "release key \"r1\" is already used",
    );
    expect_conflict(
        s.rollback(&ctx(), &app_ns("orders"), "r1", "r1", ACTOR)
            .await,
        "release key \"r1\" is already used",
    );
    assert_eq!(count(s, "cc_releases").await, 1);
    // The failed releases left no history either.
    let h = s
        .history(&ctx(), &app_ns("orders"), page(1, 10))
        .await
        .unwrap();
    assert_eq!(h.total, 1);
}

pub(crate) async fn list_releases_newest_first(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    let id = app_ns("orders");
    // Keys in an order unrelated to creation, so only the id can order them.
    let keys = ["m", "c", "x", "a", "q"];
    for (n, key) in keys.iter().enumerate() {
        s.put_item(&ctx(), &id, &write("n", &n.to_string(), None), ACTOR)
            .await
            .unwrap();
        s.create_release(&ctx(), &id, key, "", "", ACTOR)
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    for n in 1..=3 {
        let p = s.list_releases(&ctx(), &id, page(n, 2)).await.unwrap();
        assert_eq!(p.total, 5);
        seen.extend(
            p.items
                .into_iter()
                .map(|r| (r.release_key, r.configs["n"].clone())),
        );
    }
    let expected: Vec<_> = keys
        .iter()
        .enumerate()
        .rev()
        .map(|(n, k)| ((*k).to_owned(), n.to_string()))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(
        s.current_release(&ctx(), &id)
            .await
            .unwrap()
            .unwrap()
            .release_key,
        "q"
    );
    expect_invalid(
        s.list_releases(&ctx(), &id, page(1, 0)).await,
        "page must be",
    );
}

pub(crate) async fn rollback_restores_an_older_release(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    let id = app_ns("orders");
    s.put_item(&ctx(), &id, &write("a", "1", None), ACTOR)
        .await
        .unwrap();
    let r1 = s
        .create_release(&ctx(), &id, "r1", "good", "", ACTOR)
        .await
        .unwrap();
    s.put_item(&ctx(), &id, &write("a", "broken", None), ACTOR)
        .await
        .unwrap();
    s.put_item(&ctx(), &id, &write("b", "new", None), ACTOR)
        .await
        .unwrap();
    let r2 = s
        .create_release(&ctx(), &id, "r2", "bad", "", ACTOR)
        .await
        .unwrap();
    assert_eq!(r2.configs, configs(&[("a", "broken"), ("b", "new")]));

    let r3 = s.rollback(&ctx(), &id, "r1", "r3", "bob").await.unwrap();
    assert_eq!(r3.release_key, "r3");
    assert_eq!(r3.configs, r1.configs);
    assert_eq!(r3.rolled_back_from.as_deref(), Some("r1"));
    assert_eq!(r3.created_by, "bob");
    assert_eq!(r3.namespace, id);
    assert_eq!(
        s.current_release(&ctx(), &id).await.unwrap(),
        Some(r3.clone())
    );
    assert_eq!(s.get_release(&ctx(), &id, "r3").await.unwrap(), r3);
    // The releases rolled over stay readable; the working copy is not touched.
    assert_eq!(s.get_release(&ctx(), &id, "r2").await.unwrap(), r2);
    assert_eq!(s.get_item(&ctx(), &id, "a").await.unwrap().value, "broken");
    let keys: Vec<_> = s
        .list_releases(&ctx(), &id, page(1, 10))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.release_key)
        .collect();
    assert_eq!(keys, ["r3", "r2", "r1"]);

    // Rolling "forward" to r2 is a rollback too.
    let r4 = s.rollback(&ctx(), &id, "r2", "r4", ACTOR).await.unwrap();
    assert_eq!(r4.configs, r2.configs);
    expect_not_found(
        s.rollback(&ctx(), &id, "nope", "r5", ACTOR).await,
        "release \"nope\" not found in namespace dev/orders/default/application",
    );
    assert_eq!(
        s.current_release(&ctx(), &id)
            .await
            .unwrap()
            .unwrap()
            .release_key,
        "r4"
    );
}

pub(crate) async fn history_records_writes_newest_first(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    let id = app_ns("orders");
    s.put_item(&ctx(), &id, &write("a", "1", None), "u1")
        .await
        .unwrap();
    s.put_item(&ctx(), &id, &write("a", "2", None), "u2")
        .await
        .unwrap();
    s.create_release(&ctx(), &id, "r1", "first", "note", "u3")
        .await
        .unwrap();
    s.delete_item(&ctx(), &id, "a", None, "u4").await.unwrap();
    s.rollback(&ctx(), &id, "r1", "r2", "u5").await.unwrap();
    // Another namespace's writes are not this one's history.
    s.create_app(&ctx(), ENV, &new_app("payments"), ACTOR)
        .await
        .unwrap();
    s.put_item(&ctx(), &app_ns("payments"), &write("x", "y", None), ACTOR)
        .await
        .unwrap();

    let all = s.history(&ctx(), &id, page(1, 100)).await.unwrap();
    assert_eq!(all.total, 5);
    let summary: Vec<_> = all
        .items
        .iter()
        .map(|h| (h.action.as_str(), h.target.as_str(), h.actor.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("release.rollback", "r2", "u5"),
            ("item.delete", "a", "u4"),
            ("release.create", "r1", "u3"),
            ("item.put", "a", "u2"),
            ("item.put", "a", "u1"),
        ]
    );
    assert!(all.items.windows(2).all(|w| w[0].id > w[1].id));
    assert!(all.items.iter().all(|h| h.at > 1_600_000_000_000));
    let detail = |n: usize| &all.items[n].detail;
    assert_eq!(detail(4)["old"], serde_json::Value::Null);
    assert_eq!(detail(4)["new"], "1");
    assert_eq!(detail(3)["old"], "1");
    assert_eq!(detail(3)["new"], "2");
    assert_eq!(detail(3)["version"], 2);
    assert_eq!(detail(2)["name"], "first");
    assert_eq!(detail(1)["old"], "2");
    assert_eq!(detail(0)["target"], "r1");
    assert_eq!(detail(0)["previous"], "r1");

    let second = s.history(&ctx(), &id, page(2, 2)).await.unwrap();
    assert_eq!(second.total, 5);
    assert_eq!(second.items, all.items[2..4].to_vec());
    expect_invalid(s.history(&ctx(), &id, page(0, 10)).await, "page must be");
}
