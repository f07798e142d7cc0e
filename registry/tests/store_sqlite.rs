//! The RegistryStore suite on SQLite files (the standalone backend), each case in its own
//! temp dir, plus what only a file can show: acknowledged writes survive closing and
//! reopening.

mod store;

use keel_db::Options;
use keel_registry::{GroupSettings, RegistryStore, ServiceId, ServiceSettings};

use store::{ctx, sqlite_config, store_suite};

store_suite!(store::sqlite_file);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopened_file_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let id = ServiceId::new("acme", "payments", "ledger");
    let (service, group, instance) = {
        let db = keel_db::new(&ctx(), sqlite_config(dir.path()), Options::default())
            .await
            .unwrap();
        let store = RegistryStore::open(&ctx(), db).await.unwrap();
        let group = store
            .create_group(
                &ctx(),
                "acme",
                "payments",
                &GroupSettings {
                    description: Some("money".into()),
                    register_tokens: Some(vec!["token-aaaa-1".into()]),
                },
            )
            .await
            .unwrap();
        let settings = ServiceSettings {
            protect_threshold: Some(0.3),
            ..ServiceSettings::default()
        };
        let service = store.create_service(&ctx(), &id, &settings).await.unwrap();
        let instance = store::suite::persistent(&id, "10.0.0.1", 443);
        store.put_instance(&ctx(), &instance).await.unwrap();
        store.db().close().await.unwrap();
        (service, group, instance)
    };

    let db = keel_db::new(&ctx(), sqlite_config(dir.path()), Options::default())
        .await
        .unwrap();
    let store = RegistryStore::open(&ctx(), db).await.unwrap();
    assert_eq!(store.get_service(&ctx(), &id).await.unwrap(), service);
    assert_eq!(
        store.get_group(&ctx(), "acme", "payments").await.unwrap(),
        group
    );
    assert_eq!(store.all_instances(&ctx()).await.unwrap(), [instance]);
    store.db().close().await.unwrap();
}
