//! Groups: lifecycle, delete refused while in use, paging.

use keel_registry::{GroupSettings, ServiceId, ServiceSettings};

use super::super::{Fixture, ctx};
use super::{TENANT, count, expect_conflict, expect_not_found};

pub(crate) async fn group_lifecycle(f: &Fixture) {
    let s = &f.store;
    let settings = GroupSettings {
        description: Some("payment services".into()),
        register_tokens: Some(vec!["token-aaaa-1".into(), "token-bbbb-2".into()]),
    };
    let created = s
        .create_group(&ctx(), TENANT, "payments", &settings)
        .await
        .unwrap();
    assert_eq!(created.description, "payment services");
    assert_eq!(created.register_token_count, 2);
    assert_eq!(created.created_at, created.updated_at);
    let got = s.get_group(&ctx(), TENANT, "payments").await.unwrap();
    assert_eq!(got, created);
    assert_eq!(got.register_tokens, ["token-aaaa-1", "token-bbbb-2"]);

    expect_conflict(
        s.create_group(&ctx(), TENANT, "payments", &GroupSettings::default())
            .await,
        "group acme/payments already exists",
    );

    // Only the given fields change; `[]` opens the group.
    let updated = s
        .update_group(
            &ctx(),
            TENANT,
            "payments",
            &GroupSettings {
                description: None,
                register_tokens: Some(Vec::new()),
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.description, "payment services");
    assert!(updated.register_tokens.is_empty());
    assert_eq!(updated.register_token_count, 0);
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(
        s.get_group(&ctx(), TENANT, "payments").await.unwrap(),
        updated
    );
    let described = s
        .update_group(
            &ctx(),
            TENANT,
            "payments",
            &GroupSettings {
                description: Some("money".into()),
                register_tokens: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(described.description, "money");
    assert!(described.register_tokens.is_empty());

    s.delete_group(&ctx(), TENANT, "payments").await.unwrap();
    expect_not_found(
        s.get_group(&ctx(), TENANT, "payments").await,
        "group acme/payments does not exist",
    );
    // The name is free again.
    s.create_group(&ctx(), TENANT, "payments", &GroupSettings::default())
        .await
        .unwrap();
}

pub(crate) async fn delete_group_refused_while_it_has_services(f: &Fixture) {
    let s = &f.store;
    let a = ServiceId::new(TENANT, "payments", "ledger");
    let b = ServiceId::new(TENANT, "payments", "refunds");
    for id in [&a, &b] {
        s.create_service(&ctx(), id, &ServiceSettings::default())
            .await
            .unwrap();
    }
    expect_conflict(
        s.delete_group(&ctx(), TENANT, "payments").await,
        "group acme/payments still has 2 service(s); delete them first",
    );
    s.delete_service(&ctx(), &a).await.unwrap();
    expect_conflict(
        s.delete_group(&ctx(), TENANT, "payments").await,
        "still has 1 service(s)",
    );
    s.delete_service(&ctx(), &b).await.unwrap();
    s.delete_group(&ctx(), TENANT, "payments").await.unwrap();
    assert_eq!(count(s, "reg_groups").await, 0);
    // A service brings its group back.
    s.ensure_service(&ctx(), &a).await.unwrap();
    s.get_group(&ctx(), TENANT, "payments").await.unwrap();
}

pub(crate) async fn list_groups_paginates_by_name(f: &Fixture) {
    let s = &f.store;
    for name in ["delta", "alpha", "echo", "charlie", "bravo"] {
        s.create_group(&ctx(), TENANT, name, &GroupSettings::default())
            .await
            .unwrap();
    }
    s.create_group(&ctx(), "other", "zulu", &GroupSettings::default())
        .await
        .unwrap();
    let mut seen = Vec::new();
    for n in 1..=3 {
        let p = s.list_groups(&ctx(), TENANT, n, 2).await.unwrap();
        assert_eq!((p.total, p.page, p.size), (5, n, 2));
        seen.extend(p.items.into_iter().map(|g| g.name));
    }
    assert_eq!(seen, ["alpha", "bravo", "charlie", "delta", "echo"]);
    let past = s.list_groups(&ctx(), TENANT, 4, 2).await.unwrap();
    assert!(past.items.is_empty());
    assert_eq!(past.total, 5);
    let empty = s.list_groups(&ctx(), "nobody", 1, 1000).await.unwrap();
    assert_eq!((empty.items.len(), empty.total), (0, 0));
}
