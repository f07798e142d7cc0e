//! Apps, clusters, namespaces and the NotFound messages of every level.
#![allow(clippy::unwrap_used)]

use keel_config_center::{AppUpdate, Format};

use super::{
    ACTOR, ENV, app_ns, cluster_id, count, expect_conflict, expect_invalid, expect_not_found,
    new_app, ns_id, page, write,
};
use crate::store::{Fixture, ctx};

pub(crate) async fn create_app_creates_default_cluster_and_namespace(f: &Fixture) {
    let s = &f.store;
    let app = s
        .create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    assert_eq!(
        (
            app.env.as_str(),
            app.name.as_str(),
            app.description.as_str(),
            app.owner.as_str()
        ),
        (ENV, "orders", "orders service", "team-a")
    );
    assert_eq!(
        (app.created_by.as_str(), app.updated_by.as_str()),
        (ACTOR, ACTOR)
    );
    assert!(app.created_at > 1_600_000_000_000 && app.created_at == app.updated_at);
    assert_eq!(s.get_app(&ctx(), ENV, "orders").await.unwrap(), app);

    let clusters = s.list_clusters(&ctx(), ENV, "orders").await.unwrap();
    assert_eq!(clusters.len(), 1);
    assert_eq!(clusters[0].name, "default");
    assert_eq!(clusters[0].created_by, ACTOR);
    let namespaces = s
        .list_namespaces(&ctx(), &cluster_id("orders", "default"))
        .await
        .unwrap();
    assert_eq!(namespaces.len(), 1);
    assert_eq!(namespaces[0].name, "application");
    assert_eq!(namespaces[0].format, Format::Properties);
    assert_eq!(
        s.get_namespace(&ctx(), &app_ns("orders")).await.unwrap(),
        namespaces[0]
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
        s.history(&ctx(), &app_ns("orders"), page(1, 20))
            .await
            .unwrap()
            .total,
        0
    );
}

pub(crate) async fn app_conflicts_and_not_found(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    expect_conflict(
        s.create_app(&ctx(), ENV, &new_app("orders"), "bob").await,
        "app \"orders\" already exists in env \"dev\"",
    );
    // The failed create left nothing behind: still one cluster, one namespace.
    assert_eq!(count(s, "cc_clusters").await, 1);
    assert_eq!(count(s, "cc_namespaces").await, 1);
    // Apps are scoped by env.
    let prod = s
        .create_app(&ctx(), "prod", &new_app("orders"), ACTOR)
        .await
        .unwrap();
    assert_eq!(prod.env, "prod");
    expect_not_found(
        s.get_app(&ctx(), ENV, "payments").await,
        "app \"payments\" not found in env \"dev\"",
    );
    expect_not_found(
        s.get_app(&ctx(), "test", "orders").await,
        "app \"orders\" not found in env \"test\"",
    );
    expect_not_found(
        s.update_app(&ctx(), ENV, "payments", &AppUpdate::default(), ACTOR)
            .await,
        "app \"payments\" not found in env \"dev\"",
    );
    expect_not_found(
        s.delete_app(&ctx(), ENV, "payments", ACTOR).await,
        "app \"payments\" not found in env \"dev\"",
    );
}

pub(crate) async fn names_are_case_sensitive(f: &Fixture) {
    // MySQL's default collation would make these one app; the schema must not.
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    s.create_app(&ctx(), ENV, &new_app("Orders"), ACTOR)
        .await
        .unwrap();
    s.put_item(
        &ctx(),
        &app_ns("orders"),
        &write("Key", "upper", None),
        ACTOR,
    )
    .await
    .unwrap();
    s.put_item(
        &ctx(),
        &app_ns("orders"),
        &write("key", "lower", None),
        ACTOR,
    )
    .await
    .unwrap();
    let items = s.list_items(&ctx(), &app_ns("orders")).await.unwrap();
    // Byte order on every engine: upper case first.
    let keys: Vec<_> = items
        .iter()
        .map(|i| (i.key.as_str(), i.value.as_str()))
        .collect();
    assert_eq!(keys, [("Key", "upper"), ("key", "lower")]);
    let apps = s.list_apps(&ctx(), ENV, page(1, 10)).await.unwrap();
    let names: Vec<_> = apps.items.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Orders", "orders"]);
    expect_not_found(
        s.get_item(&ctx(), &app_ns("orders"), "KEY").await,
        "item \"KEY\" not found in namespace dev/orders/default/application",
    );
}

pub(crate) async fn update_app_changes_only_given_fields(f: &Fixture) {
    let s = &f.store;
    let created = s
        .create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    let update = AppUpdate {
        description: None,
        owner: Some("team-b".into()),
    };
    let updated = s
        .update_app(&ctx(), ENV, "orders", &update, "bob")
        .await
        .unwrap();
    assert_eq!(updated.owner, "team-b");
    assert_eq!(updated.description, created.description);
    assert_eq!(updated.created_by, ACTOR);
    assert_eq!(updated.updated_by, "bob");
    assert!(updated.updated_at >= created.updated_at);
    assert_eq!(s.get_app(&ctx(), ENV, "orders").await.unwrap(), updated);
    let update = AppUpdate {
        description: Some("new".into()),
        owner: None,
    };
    let again = s
        .update_app(&ctx(), ENV, "orders", &update, ACTOR)
        .await
        .unwrap();
    assert_eq!(
        (again.description.as_str(), again.owner.as_str()),
        ("new", "team-b")
    );
}

pub(crate) async fn list_apps_paginates_by_name(f: &Fixture) {
    let s = &f.store;
    for name in ["delta", "alpha", "echo", "charlie", "bravo"] {
        s.create_app(&ctx(), ENV, &new_app(name), ACTOR)
            .await
            .unwrap();
    }
    s.create_app(&ctx(), "prod", &new_app("zulu"), ACTOR)
        .await
        .unwrap();
    let mut seen = Vec::new();
    for n in 1..=3 {
        let p = s.list_apps(&ctx(), ENV, page(n, 2)).await.unwrap();
        assert_eq!((p.total, p.page, p.size), (5, n, 2));
        seen.extend(p.items.into_iter().map(|a| a.name));
    }
    assert_eq!(seen, ["alpha", "bravo", "charlie", "delta", "echo"]);
    let past = s.list_apps(&ctx(), ENV, page(4, 2)).await.unwrap();
    assert!(past.items.is_empty());
    assert_eq!(past.total, 5);
    let empty = s.list_apps(&ctx(), "staging", page(1, 20)).await.unwrap();
    assert_eq!((empty.items.len(), empty.total), (0, 0));
    expect_invalid(s.list_apps(&ctx(), ENV, page(0, 2)).await, "page must be");
    expect_invalid(s.list_apps(&ctx(), ENV, page(1, 501)).await, "page must be");
}

pub(crate) async fn clusters(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    let sh = s
        .create_cluster(&ctx(), &cluster_id("orders", "shanghai"), "bob")
        .await
        .unwrap();
    assert_eq!(
        (
            sh.env.as_str(),
            sh.app.as_str(),
            sh.name.as_str(),
            sh.created_by.as_str()
        ),
        (ENV, "orders", "shanghai", "bob")
    );
    s.create_cluster(&ctx(), &cluster_id("orders", "beijing"), ACTOR)
        .await
        .unwrap();
    expect_conflict(
        s.create_cluster(&ctx(), &cluster_id("orders", "beijing"), ACTOR)
            .await,
        "cluster \"beijing\" already exists in app \"orders\" (env \"dev\")",
    );
    expect_conflict(
        s.create_cluster(&ctx(), &cluster_id("orders", "default"), ACTOR)
            .await,
        "already exists",
    );
    expect_not_found(
        s.create_cluster(&ctx(), &cluster_id("payments", "beijing"), ACTOR)
            .await,
        "app \"payments\" not found in env \"dev\"",
    );
    let names: Vec<_> = s
        .list_clusters(&ctx(), ENV, "orders")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["beijing", "default", "shanghai"]);
    assert_eq!(
        s.get_cluster(&ctx(), &cluster_id("orders", "shanghai"))
            .await
            .unwrap(),
        sh
    );
    expect_not_found(
        s.list_clusters(&ctx(), ENV, "payments").await,
        "app \"payments\" not found in env \"dev\"",
    );
    expect_invalid(
        s.delete_cluster(&ctx(), &cluster_id("orders", "default"), ACTOR)
            .await,
        "cannot be deleted",
    );
    s.delete_cluster(&ctx(), &cluster_id("orders", "shanghai"), ACTOR)
        .await
        .unwrap();
    expect_not_found(
        s.get_cluster(&ctx(), &cluster_id("orders", "shanghai"))
            .await,
        "cluster \"shanghai\" not found in app \"orders\" (env \"dev\")",
    );
    expect_not_found(
        s.delete_cluster(&ctx(), &cluster_id("orders", "shanghai"), ACTOR)
            .await,
        "cluster \"shanghai\" not found in app \"orders\" (env \"dev\")",
    );
    // A new cluster has no namespaces (only the app's default cluster gets `application`).
    assert!(
        s.list_namespaces(&ctx(), &cluster_id("orders", "beijing"))
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn namespaces(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    let default = cluster_id("orders", "default");
    let db = s
        .create_namespace(&ctx(), &default, "db.yaml", Format::Yaml, "bob")
        .await
        .unwrap();
    assert_eq!(
        (
            db.cluster.as_str(),
            db.name.as_str(),
            db.format,
            db.created_by.as_str()
        ),
        ("default", "db.yaml", Format::Yaml, "bob")
    );
    s.create_namespace(&ctx(), &default, "abc", Format::Json, ACTOR)
        .await
        .unwrap();
    expect_conflict(
        s.create_namespace(&ctx(), &default, "db.yaml", Format::Text, ACTOR)
            .await,
        "namespace \"db.yaml\" already exists in cluster \"default\" of app \"orders\" (env \"dev\")",
    );
    let listed: Vec<_> = s
        .list_namespaces(&ctx(), &default)
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.name, n.format))
        .collect();
    assert_eq!(
        listed,
        [
            ("abc".to_owned(), Format::Json),
            ("application".to_owned(), Format::Properties),
            ("db.yaml".to_owned(), Format::Yaml)
        ]
    );
    assert_eq!(
        s.get_namespace(&ctx(), &ns_id("orders", "default", "db.yaml"))
            .await
            .unwrap(),
        db
    );
    // The same name in another cluster is another namespace.
    s.create_cluster(&ctx(), &cluster_id("orders", "beijing"), ACTOR)
        .await
        .unwrap();
    s.create_namespace(
        &ctx(),
        &cluster_id("orders", "beijing"),
        "db.yaml",
        Format::Yaml,
        ACTOR,
    )
    .await
    .unwrap();
    expect_invalid(
        s.delete_namespace(&ctx(), &app_ns("orders"), ACTOR).await,
        "cannot be deleted",
    );
    s.delete_namespace(&ctx(), &ns_id("orders", "default", "db.yaml"), ACTOR)
        .await
        .unwrap();
    expect_not_found(
        s.get_namespace(&ctx(), &ns_id("orders", "default", "db.yaml"))
            .await,
        "namespace \"db.yaml\" not found in cluster \"default\" of app \"orders\" (env \"dev\")",
    );
    // The other cluster's namespace of the same name is untouched.
    s.get_namespace(&ctx(), &ns_id("orders", "beijing", "db.yaml"))
        .await
        .unwrap();
}

pub(crate) async fn not_found_names_the_missing_level(f: &Fixture) {
    let s = &f.store;
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    let no_app = ns_id("payments", "default", "application");
    let no_cluster = ns_id("orders", "mars", "application");
    let no_ns = ns_id("orders", "default", "nope");
    let app_msg = "app \"payments\" not found in env \"dev\"";
    let cluster_msg = "cluster \"mars\" not found in app \"orders\" (env \"dev\")";
    let ns_msg =
        "namespace \"nope\" not found in cluster \"default\" of app \"orders\" (env \"dev\")";
    for (id, msg) in [
        (&no_app, app_msg),
        (&no_cluster, cluster_msg),
        (&no_ns, ns_msg),
    ] {
        expect_not_found(s.get_namespace(&ctx(), id).await, msg);
        expect_not_found(s.list_items(&ctx(), id).await, msg);
        expect_not_found(s.get_item(&ctx(), id, "k").await, msg);
        expect_not_found(
            s.put_item(&ctx(), id, &write("k", "v", None), ACTOR).await,
            msg,
        );
        expect_not_found(s.delete_item(&ctx(), id, "k", None, ACTOR).await, msg);
        expect_not_found(
            s.create_release(&ctx(), id, "r1", "n", "", ACTOR).await,
            msg,
        );
        expect_not_found(s.current_release(&ctx(), id).await, msg);
        expect_not_found(s.get_release(&ctx(), id, "r1").await, msg);
        expect_not_found(s.list_releases(&ctx(), id, page(1, 10)).await, msg);
        expect_not_found(s.rollback(&ctx(), id, "r1", "r2", ACTOR).await, msg);
        expect_not_found(s.history(&ctx(), id, page(1, 10)).await, msg);
        if id.cluster != "default" || id.namespace != "application" {
            // (deleting default/application is refused before any lookup)
            expect_not_found(s.delete_namespace(&ctx(), id, ACTOR).await, msg);
        }
    }
    expect_not_found(
        s.create_namespace(
            &ctx(),
            &cluster_id("orders", "mars"),
            "x",
            Format::Json,
            ACTOR,
        )
        .await,
        cluster_msg,
    );
    expect_not_found(
        s.list_namespaces(&ctx(), &cluster_id("payments", "default"))
            .await,
        app_msg,
    );
    expect_not_found(
        s.get_cluster(&ctx(), &cluster_id("payments", "default"))
            .await,
        app_msg,
    );
    expect_not_found(
        s.get_item(&ctx(), &app_ns("orders"), "missing").await,
        "item \"missing\" not found in namespace dev/orders/default/application",
    );
    expect_not_found(
        s.get_release(&ctx(), &app_ns("orders"), "r9").await,
        "release \"r9\" not found in namespace dev/orders/default/application",
    );
    // Nothing was written by the failed calls.
    assert_eq!(count(s, "cc_items").await, 0);
    assert_eq!(count(s, "cc_releases").await, 0);
}
