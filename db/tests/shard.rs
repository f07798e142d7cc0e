//! The shard router on real databases: every key lands in the database and table the
//! documented hash says, on SQLite files and on two real PostgreSQL databases.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use keel_clog::{Context, Env};
use keel_db::{Config, Db, Options, ShardLayout, ShardRouter, sqlx};

const TABLES_PER_DATABASE: u32 = 4;

fn ctx() -> Context {
    Context::new().with_timeout(Duration::from_secs(30))
}

/// Creates `orders_00..03` in every database, writes 200 orders routed by customer, then checks
/// each row sits exactly where `ShardLayout` computes and nowhere else.
async fn orders_land_where_the_hash_says(databases: Vec<Arc<Db>>) {
    let ctx = ctx();
    let router = ShardRouter::new(databases, TABLES_PER_DATABASE).expect("router");
    assert_eq!(
        router.layout(),
        ShardLayout::new(2, TABLES_PER_DATABASE).expect("layout")
    );
    for shard in router.shards() {
        let ddl = shard
            .sql(
                "CREATE TABLE {table} (id VARCHAR(64) PRIMARY KEY, customer VARCHAR(64) NOT NULL, amount BIGINT NOT NULL)",
                "orders",
            )
            .expect("ddl");
        shard
            .db
            .execute_raw(&ctx, ddl)
            .await
            .expect("create shard table");
    }
    let mut expected: BTreeMap<(usize, String), Vec<String>> = BTreeMap::new();
    for i in 0..200 {
        let customer = format!("customer-{}", i % 50);
        let id = format!("order-{i:04}");
        let shard = router.route(customer.as_str());
        assert_eq!(
            shard.pool_index(),
            router.layout().locate(customer.as_str()).database
        );
        let insert = shard
            .sql(
                "INSERT INTO {table} (id, customer, amount) VALUES (?, ?, ?)",
                "orders",
            )
            .expect("insert sql");
        shard
            .db
            .execute(
                &ctx,
                sqlx::query(insert)
                    .bind(&id)
                    .bind(&customer)
                    .bind(i64::from(i)),
            )
            .await
            .expect("insert");
        expected
            .entry((shard.pool_index(), shard.table("orders")))
            .or_default()
            .push(id);
    }
    assert_eq!(expected.len(), 8, "50 customers reach all 8 shards");
    for shard in router.shards() {
        let select = shard
            .sql("SELECT id, customer FROM {table} ORDER BY id", "orders")
            .expect("select sql");
        let rows: Vec<(String, String)> = shard
            .db
            .fetch_all(&ctx, sqlx::query_as(select))
            .await
            .expect("select");
        for (_, customer) in &rows {
            let home = router.route(customer.as_str());
            assert_eq!(
                (home.pool_index(), home.table_suffix()),
                (shard.pool_index(), shard.table_suffix()),
                "{customer} is in the wrong shard"
            );
        }
        let ids: Vec<String> = rows.into_iter().map(|(id, _)| id).collect();
        let want = expected
            .get(&(shard.pool_index(), shard.table("orders")))
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            ids,
            want,
            "{} in database {}",
            shard.table("orders"),
            shard.pool_index()
        );
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut databases = Vec::new();
    for name in ["shard_a.db", "shard_b.db"] {
        let mut config = Config::for_env(Env::Development).with_url(format!("sqlite://{name}"));
        config.data_dir = dir.path().to_path_buf();
        databases.push(
            keel_db::new(&ctx(), config, Options::default())
                .await
                .expect("open"),
        );
    }
    orders_land_where_the_hash_says(databases.clone()).await;
    for db in databases {
        db.close().await.expect("close");
    }
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_databases() {
    let Some(url) = keel_testkit::backend(keel_testkit::Backend::Postgres) else {
        return;
    };
    let a = common::fresh_database(&url, "shard_a").await;
    let b = common::fresh_database(&url, "shard_b").await;
    assert_ne!(a.url, b.url);
    orders_land_where_the_hash_says(vec![Arc::clone(&a.db), Arc::clone(&b.db)]).await;
    a.cleanup.await;
    b.cleanup.await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn routers_need_databases_of_one_engine() {
    assert!(ShardRouter::new(Vec::new(), 4).is_err());
    let memory = || async {
        keel_db::new(
            &ctx(),
            Config::for_env(Env::Development).with_url("sqlite::memory:"),
            Options::default(),
        )
        .await
        .expect("memory db")
    };
    let router = ShardRouter::new(vec![memory().await], 0);
    assert!(router.is_err());
    let router = ShardRouter::new(vec![memory().await, memory().await], 16).expect("router");
    assert_eq!(router.shards().count(), 32);
    assert_eq!(router.route("x").table("t").len(), "t_00".len());
}
