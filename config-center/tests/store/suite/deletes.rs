//! Deletes cascade, and racing writers leave no orphans.
#![allow(clippy::unwrap_used)]

use keel_config_center::{Error, Format};

use super::{ACTOR, ENV, app_ns, cluster_id, count, expect_not_found, new_app, ns_id, page, write};
use crate::store::{Fixture, ctx};

pub(crate) async fn delete_app_cascades(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    s.create_app(&ctx(), ENV, &new_app("keep"), ACTOR)
        .await
        .unwrap();
    s.create_cluster(&ctx(), &cluster_id("orders", "beijing"), ACTOR)
        .await
        .unwrap();
    s.create_namespace(
        &ctx(),
        &cluster_id("orders", "beijing"),
        "db",
        Format::Properties,
        ACTOR,
    )
    .await
    .unwrap();
    for id in [
        app_ns("orders"),
        ns_id("orders", "beijing", "db"),
        app_ns("keep"),
    ] {
        s.put_item(&ctx(), &id, &write("k", "v", None), ACTOR)
            .await
            .unwrap();
        let key = format!("{}-{}", id.app, id.namespace);
        s.create_release(&ctx(), &id, &key, "", "", ACTOR)
            .await
            .unwrap();
    }
    let history_before = count(s, "cc_history").await;

    s.delete_app(&ctx(), ENV, "orders", ACTOR).await.unwrap();
    expect_not_found(
        s.get_app(&ctx(), ENV, "orders").await,
        "app \"orders\" not found in env \"dev\"",
    );
    // Only the other app's rows are left.
    assert_eq!(count(s, "cc_apps").await, 1);
    assert_eq!(count(s, "cc_clusters").await, 1);
    assert_eq!(count(s, "cc_namespaces").await, 1);
    assert_eq!(count(s, "cc_items").await, 1);
    assert_eq!(count(s, "cc_releases").await, 1);
    // History stays (plus the delete itself).
    assert_eq!(count(s, "cc_history").await, history_before + 1);
    assert_eq!(
        s.get_item(&ctx(), &app_ns("keep"), "k")
            .await
            .unwrap()
            .value,
        "v"
    );

    // A new app of the same name starts empty, and the old release keys are free again.
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    assert_eq!(
        s.list_clusters(&ctx(), ENV, "orders").await.unwrap().len(),
        1
    );
    assert!(
        s.list_items(&ctx(), &app_ns("orders"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.current_release(&ctx(), &app_ns("orders")).await.unwrap(),
        None
    );
    assert_eq!(
        s.history(&ctx(), &app_ns("orders"), page(1, 10))
            .await
            .unwrap()
            .total,
        0
    );
    s.create_release(
        &ctx(),
        &app_ns("orders"),
        "orders-application",
        "",
        "",
        ACTOR,
    )
    .await
    .unwrap();
}

pub(crate) async fn delete_app_racing_writes_leaves_nothing(f: &Fixture) {
    // Writers that lose the race to a delete get NotFound; none leaves an orphan row behind.
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in 0..6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let id = app_ns("orders");
            for m in 0..5 {
                let key = format!("k{n}-{m}");
                let out = if m == 4 {
                    s.create_release(&ctx(), &id, &key, "", "", ACTOR)
                        .await
                        .map(drop)
                } else {
                    s.put_item(&ctx(), &id, &write(&key, "v", None), ACTOR)
                        .await
                        .map(drop)
                };
                match out {
                    Ok(()) => {}
                    Err(Error::NotFound(m)) => {
                        assert!(m.contains("app \"orders\" not found"), "{m}");
                        return;
                    }
                    Err(other) => panic!("unexpected error: {other}"),
                }
            }
        }));
    }
    let deleter = {
        let s = s.clone();
        tokio::spawn(async move { s.delete_app(&ctx(), ENV, "orders", ACTOR).await })
    };
    for task in tasks {
        task.await.unwrap();
    }
    deleter.await.unwrap().unwrap();
    for table in [
        "cc_apps",
        "cc_clusters",
        "cc_namespaces",
        "cc_items",
        "cc_releases",
    ] {
        assert_eq!(count(s, table).await, 0, "{table}");
    }
}

pub(crate) async fn delete_cluster_and_namespace_cascade(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    s.create_cluster(&ctx(), &cluster_id("orders", "beijing"), ACTOR)
        .await
        .unwrap();
    for ns in ["one", "two"] {
        s.create_namespace(
            &ctx(),
            &cluster_id("orders", "beijing"),
            ns,
            Format::Properties,
            ACTOR,
        )
        .await
        .unwrap();
        let id = ns_id("orders", "beijing", ns);
        s.put_item(&ctx(), &id, &write("k", "v", None), ACTOR)
            .await
            .unwrap();
        s.create_release(&ctx(), &id, ns, "", "", ACTOR)
            .await
            .unwrap();
    }
    s.put_item(&ctx(), &app_ns("orders"), &write("k", "v", None), ACTOR)
        .await
        .unwrap();

    s.delete_namespace(&ctx(), &ns_id("orders", "beijing", "one"), ACTOR)
        .await
        .unwrap();
    assert_eq!(count(s, "cc_items").await, 2);
    assert_eq!(count(s, "cc_releases").await, 1);
    s.delete_cluster(&ctx(), &cluster_id("orders", "beijing"), ACTOR)
        .await
        .unwrap();
    assert_eq!(count(s, "cc_clusters").await, 1);
    assert_eq!(count(s, "cc_namespaces").await, 1);
    assert_eq!(count(s, "cc_items").await, 1);
    assert_eq!(count(s, "cc_releases").await, 0);
    // Recreated, the cluster is empty.
    s.create_cluster(&ctx(), &cluster_id("orders", "beijing"), ACTOR)
        .await
        .unwrap();
    assert!(
        s.list_namespaces(&ctx(), &cluster_id("orders", "beijing"))
            .await
            .unwrap()
            .is_empty()
    );
}
