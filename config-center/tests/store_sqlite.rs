//! The ConfigStore suite on SQLite files (the standalone backend), each case in its own temp
//! dir, plus what only a file can show: acknowledged writes survive closing and reopening.

mod store;

use std::collections::BTreeMap;

use keel_clog::Env;
use keel_config_center::{ConfigStore, ItemWrite, NamespaceId, NewApp, PageRequest};
use keel_db::{Config, Options};

use store::{ctx, store_suite};

store_suite!(store::sqlite_file);

fn file_config(dir: &std::path::Path) -> Config {
    let mut config = Config::for_env(Env::Development);
    config.data_dir = dir.to_path_buf();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopened_file_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let id = NamespaceId {
        env: "dev".into(),
        app: "orders".into(),
        cluster: "default".into(),
        namespace: "application".into(),
    };
    let mut expected = BTreeMap::new();
    {
        let db = keel_db::new(&ctx(), file_config(dir.path()), Options::default())
            .await
            .unwrap();
        let store = ConfigStore::open(&ctx(), db).await.unwrap();
        let new = NewApp {
            name: "orders".into(),
            ..NewApp::default()
        };
        store
            .create_app(&ctx(), "dev", &new, "alice")
            .await
            .unwrap();
        for n in 0..50 {
            let write = ItemWrite {
                key: format!("key-{n:02}"),
                value: format!("value-{n}"),
                ..ItemWrite::default()
            };
            // Every returned Ok is an acknowledged write.
            store.put_item(&ctx(), &id, &write, "alice").await.unwrap();
            expected.insert(write.key, write.value);
        }
        store
            .create_release(&ctx(), &id, "r1", "first", "", "alice")
            .await
            .unwrap();
        store
            .put_item(
                &ctx(),
                &id,
                &ItemWrite {
                    key: "key-00".into(),
                    value: "after release".into(),
                    ..ItemWrite::default()
                },
                "alice",
            )
            .await
            .unwrap();
        store.db().close().await.unwrap();
    }

    let db = keel_db::new(&ctx(), file_config(dir.path()), Options::default())
        .await
        .unwrap();
    let store = ConfigStore::open(&ctx(), db).await.unwrap();
    let items = store.list_items(&ctx(), &id).await.unwrap();
    assert_eq!(items.len(), 50);
    assert_eq!(items[0].value, "after release");
    assert_eq!(items[0].version, 2);
    let release = store.current_release(&ctx(), &id).await.unwrap().unwrap();
    assert_eq!(release.release_key, "r1");
    assert_eq!(release.configs, expected);
    let history = store
        .history(&ctx(), &id, PageRequest { page: 1, size: 100 })
        .await
        .unwrap();
    assert_eq!(history.total, 52);
    store.db().close().await.unwrap();
}
