//! Items: versions, optimistic locking, concurrent writers, sizes and bad input.
#![allow(clippy::unwrap_used)]

use keel_config_center::{Error, Format, MAX_KEY_LEN, MAX_VALUE_BYTES};

use super::{
    ACTOR, ENV, app_ns, cluster_id, configs, count, expect_conflict, expect_invalid,
    expect_not_found, new_app, ns_id, page, write,
};
use crate::store::{Fixture, ctx};

pub(crate) async fn item_versions_and_optimistic_locking(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    let id = app_ns("orders");
    let mut w = write("timeout", "30s", None);
    w.comment = "request timeout".into();
    let v1 = s.put_item(&ctx(), &id, &w, ACTOR).await.unwrap();
    assert_eq!(
        (
            v1.key.as_str(),
            v1.value.as_str(),
            v1.comment.as_str(),
            v1.version
        ),
        ("timeout", "30s", "request timeout", 1)
    );
    assert_eq!(s.get_item(&ctx(), &id, "timeout").await.unwrap(), v1);
    let v2 = s
        .put_item(&ctx(), &id, &write("timeout", "40s", None), "bob")
        .await
        .unwrap();
    assert_eq!((v2.version, v2.updated_by.as_str()), (2, "bob"));
    let v3 = s
        .put_item(&ctx(), &id, &write("timeout", "50s", Some(2)), ACTOR)
        .await
        .unwrap();
    assert_eq!(v3.version, 3);
    expect_conflict(
        s.put_item(&ctx(), &id, &write("timeout", "60s", Some(2)), ACTOR)
            .await,
        "item \"timeout\" is at version 3, not 2; reload and retry",
    );
    expect_conflict(
        s.put_item(&ctx(), &id, &write("timeout", "60s", Some(0)), ACTOR)
            .await,
        "item \"timeout\" is at version 3, not 0",
    );
    expect_conflict(
        s.put_item(&ctx(), &id, &write("retries", "3", Some(4)), ACTOR)
            .await,
        "item \"retries\" does not exist",
    );
    // The failed writes changed nothing.
    assert_eq!(s.get_item(&ctx(), &id, "timeout").await.unwrap(), v3);
    let created = s
        .put_item(&ctx(), &id, &write("retries", "3", Some(0)), ACTOR)
        .await
        .unwrap();
    assert_eq!(created.version, 1);
    s.put_item(&ctx(), &id, &write("a.first", "1", None), ACTOR)
        .await
        .unwrap();
    let keys: Vec<_> = s
        .list_items(&ctx(), &id)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.key, i.version))
        .collect();
    assert_eq!(
        keys,
        [
            ("a.first".to_owned(), 1),
            ("retries".to_owned(), 1),
            ("timeout".to_owned(), 3)
        ]
    );

    expect_conflict(
        s.delete_item(&ctx(), &id, "timeout", Some(2), ACTOR).await,
        "item \"timeout\" is at version 3, not 2",
    );
    s.delete_item(&ctx(), &id, "timeout", Some(3), ACTOR)
        .await
        .unwrap();
    expect_not_found(
        s.get_item(&ctx(), &id, "timeout").await,
        "item \"timeout\" not found in namespace dev/orders/default/application",
    );
    expect_not_found(
        s.delete_item(&ctx(), &id, "timeout", None, ACTOR).await,
        "item \"timeout\" not found in namespace dev/orders/default/application",
    );
    s.delete_item(&ctx(), &id, "retries", None, ACTOR)
        .await
        .unwrap();
    // A deleted key starts again at version 1.
    let again = s
        .put_item(&ctx(), &id, &write("timeout", "1s", Some(0)), ACTOR)
        .await
        .unwrap();
    assert_eq!(again.version, 1);
    expect_invalid(
        s.put_item(&ctx(), &id, &write("timeout", "x", Some(-1)), ACTOR)
            .await,
        "negative",
    );
}

pub(crate) async fn non_properties_namespace_holds_only_content(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    s.create_namespace(
        &ctx(),
        &cluster_id("orders", "default"),
        "db",
        Format::Yaml,
        ACTOR,
    )
    .await
    .unwrap();
    let id = ns_id("orders", "default", "db");
    expect_invalid(
        s.put_item(&ctx(), &id, &write("url", "x", None), ACTOR)
            .await,
        "holds only the item \"content\"",
    );
    let doc = "url: postgres://db\npool: 4\n";
    s.put_item(&ctx(), &id, &write("content", doc, None), ACTOR)
        .await
        .unwrap();
    let r = s
        .create_release(&ctx(), &id, "db-1", "first", "", ACTOR)
        .await
        .unwrap();
    assert_eq!(r.configs, configs(&[("content", doc)]));
}

pub(crate) async fn concurrent_put_with_same_version_has_one_winner(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    let id = app_ns("orders");
    s.put_item(&ctx(), &id, &write("limit", "0", None), ACTOR)
        .await
        .unwrap();

    // Eight writers all read version 1 and race to write version 2.
    let mut tasks = Vec::new();
    for n in 0..8 {
        let (s, id) = (s.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let w = write("limit", &format!("writer-{n}"), Some(1));
            s.put_item(&ctx(), &id, &w, &format!("w{n}")).await
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(item) => winners.push(item),
            Err(Error::Conflict(m)) => assert!(m.contains("is at version 2, not 1"), "{m}"),
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins: {winners:?}");
    let stored = s.get_item(&ctx(), &id, "limit").await.unwrap();
    assert_eq!(stored, winners[0]);
    assert_eq!(stored.version, 2);

    // The same for creating: Some(0) lets exactly one creator in.
    let mut tasks = Vec::new();
    for n in 0..8 {
        let (s, id) = (s.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let w = write("fresh", &format!("creator-{n}"), Some(0));
            s.put_item(&ctx(), &id, &w, ACTOR).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(item) => {
                assert_eq!(item.version, 1);
                created += 1;
            }
            Err(Error::Conflict(_)) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(created, 1);

    // Unconditional writers never lose an update: eight of them make version 8.
    let mut tasks = Vec::new();
    for n in 0..8 {
        let (s, id) = (s.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            s.put_item(&ctx(), &id, &write("counter", &n.to_string(), None), ACTOR)
                .await
        }));
    }
    let mut versions: Vec<i64> = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap().unwrap().version);
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
    let page = s.history(&ctx(), &id, page(1, 100)).await.unwrap();
    // 1 + 1 (limit) + 1 (fresh) + 8 (counter): failed writes leave no history.
    assert_eq!(page.total, 11);
}

pub(crate) async fn concurrent_create_app_has_one_winner(f: &Fixture) {
    let s = &f.store;
    let mut tasks = Vec::new();
    for n in 0..6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.create_app(&ctx(), ENV, &new_app("orders"), &format!("u{n}"))
                .await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(Error::Conflict(m)) => assert!(m.contains("already exists"), "{m}"),
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(count(s, "cc_apps").await, 1);
    assert_eq!(count(s, "cc_clusters").await, 1);
    assert_eq!(count(s, "cc_namespaces").await, 1);
}

pub(crate) async fn concurrent_writes_across_namespaces_all_commit(f: &Fixture) {
    // Writers on several apps and namespaces at once, releases among them: no deadlock, no
    // lost write, every release a consistent snapshot.
    let s = &f.store;
    for app in ["a1", "a2"] {
        s.create_app(&ctx(), ENV, &new_app(app), ACTOR)
            .await
            .unwrap();
        s.create_namespace(
            &ctx(),
            &cluster_id(app, "default"),
            "extra",
            Format::Properties,
            ACTOR,
        )
        .await
        .unwrap();
    }
    let targets = [
        app_ns("a1"),
        ns_id("a1", "default", "extra"),
        app_ns("a2"),
        ns_id("a2", "default", "extra"),
    ];
    let mut tasks = Vec::new();
    for (t, id) in targets.iter().enumerate() {
        for worker in 0..2 {
            let (s, id) = (s.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                for n in 0..5 {
                    let key = format!("k{worker}-{n}");
                    s.put_item(&ctx(), &id, &write(&key, "v", None), ACTOR)
                        .await?;
                    if n % 2 == 0 {
                        let release = format!("r{t}-{worker}-{n}");
                        let r = s
                            .create_release(&ctx(), &id, &release, "", "", ACTOR)
                            .await?;
                        // The snapshot holds at least this worker's own writes so far.
                        assert!(r.configs.contains_key(&key), "{r:?}");
                    }
                }
                Ok::<_, Error>(())
            }));
        }
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for id in &targets {
        assert_eq!(s.list_items(&ctx(), id).await.unwrap().len(), 10);
        let releases = s.list_releases(&ctx(), id, page(1, 100)).await.unwrap();
        assert_eq!(releases.total, 6);
        // Newest first, and each snapshot contains the one before (items are only added).
        for pair in releases.items.windows(2) {
            let (newer, older) = (&pair[0], &pair[1]);
            assert!(older.configs.keys().all(|k| newer.configs.contains_key(k)));
        }
    }
}

pub(crate) async fn values_up_to_the_limit_round_trip(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    let id = app_ns("orders");
    // 1 MiB exactly: more than MySQL's TEXT (64 KiB) holds.
    let big: String = "0123456789abcdef".repeat(MAX_VALUE_BYTES / 16);
    assert_eq!(big.len(), MAX_VALUE_BYTES);
    let unicode = "ключ=значение 🚀 \"quoted\" \\ \t\n末尾";
    let long_key = "k".repeat(MAX_KEY_LEN);
    s.put_item(&ctx(), &id, &write("big", &big, None), ACTOR)
        .await
        .unwrap();
    s.put_item(&ctx(), &id, &write("ünïcödé.键", unicode, None), ACTOR)
        .await
        .unwrap();
    s.put_item(&ctx(), &id, &write(&long_key, "long", None), ACTOR)
        .await
        .unwrap();
    s.put_item(&ctx(), &id, &write("empty", "", None), ACTOR)
        .await
        .unwrap();
    assert_eq!(s.get_item(&ctx(), &id, "big").await.unwrap().value, big);
    assert_eq!(
        s.get_item(&ctx(), &id, "ünïcödé.键").await.unwrap().value,
        unicode
    );
    assert_eq!(
        s.get_item(&ctx(), &id, &long_key).await.unwrap().value,
        "long"
    );
    // Updating the big value records old and new (2 MiB of history detail).
    s.put_item(&ctx(), &id, &write("big", &big.to_uppercase(), None), ACTOR)
        .await
        .unwrap();
    let r = s
        .create_release(&ctx(), &id, "big-1", "", "", ACTOR)
        .await
        .unwrap();
    let stored = s.get_release(&ctx(), &id, "big-1").await.unwrap();
    assert_eq!(stored, r);
    assert_eq!(stored.configs["big"], big.to_uppercase());
    assert_eq!(stored.configs["ünïcödé.键"], unicode);
    assert_eq!(stored.configs["empty"], "");
    let h = s.history(&ctx(), &id, page(1, 1)).await.unwrap();
    assert_eq!(h.items[0].action, "release.create");
}

pub(crate) async fn bad_input_is_invalid(f: &Fixture) {
    let s = &f.store;
    expect_invalid(
        s.create_app(&ctx(), ENV, &new_app("a b"), ACTOR).await,
        "app name",
    );
    expect_invalid(
        s.create_app(&ctx(), "e/v", &new_app("ok"), ACTOR).await,
        "env name",
    );
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    let id = app_ns("orders");
    expect_invalid(
        s.create_cluster(&ctx(), &cluster_id("orders", ""), ACTOR)
            .await,
        "cluster name",
    );
    expect_invalid(
        s.create_namespace(
            &ctx(),
            &cluster_id("orders", "default"),
            &"n".repeat(65),
            Format::Json,
            ACTOR,
        )
        .await,
        "namespace name",
    );
    expect_invalid(
        s.put_item(&ctx(), &id, &write("", "v", None), ACTOR).await,
        "item key",
    );
    expect_invalid(
        s.put_item(&ctx(), &id, &write("k ", "v", None), ACTOR)
            .await,
        "space",
    );
    expect_invalid(
        s.put_item(&ctx(), &id, &write("k", "a\0b", None), ACTOR)
            .await,
        "NUL",
    );
    let too_big = "x".repeat(MAX_VALUE_BYTES + 1);
    expect_invalid(
        s.put_item(&ctx(), &id, &write("k", &too_big, None), ACTOR)
            .await,
        "limit",
    );
    expect_invalid(
        s.create_release(&ctx(), &id, "", "", "", ACTOR).await,
        "release key",
    );
    assert_eq!(count(s, "cc_items").await, 0);
}
