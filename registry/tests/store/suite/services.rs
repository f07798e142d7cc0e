//! Services: lifecycle, conflicts, concurrent creation, their groups, paging, tenants.

use std::time::Duration;

use keel_registry::{
    CheckKind, Error, GroupSettings, HealthCheck, LoadBalance, ServiceId, ServiceSettings,
};

use super::super::{Fixture, ctx};
use super::{GROUP, TENANT, count, expect_conflict, expect_not_found, meta, persistent, sid};

pub(crate) async fn service_lifecycle(f: &Fixture) {
    let s = &f.store;
    let id = sid("orders");
    let mut check = HealthCheck::of(CheckKind::Http);
    check.path = Some("/ready".into());
    check.interval = Some(Duration::from_secs(10));
    let settings = ServiceSettings {
        metadata: Some(meta(&[("team", "checkout")])),
        protect_threshold: Some(0.25),
        default_health_check: Some(check.clone()),
        load_balance: Some(LoadBalance::WeightedRandom),
    };
    let created = s.create_service(&ctx(), &id, &settings).await.unwrap();
    assert_eq!(created.id, id);
    assert_eq!(created.created_at, created.updated_at);
    assert_eq!(s.get_service(&ctx(), &id).await.unwrap(), created);

    // Only the given fields change.
    let update = ServiceSettings {
        protect_threshold: Some(0.5),
        load_balance: Some(LoadBalance::ConsistentHash),
        ..ServiceSettings::default()
    };
    let updated = s.update_service(&ctx(), &id, &update).await.unwrap();
    assert_eq!(updated.protect_threshold, 0.5);
    assert_eq!(updated.load_balance, LoadBalance::ConsistentHash);
    assert_eq!(updated.metadata, meta(&[("team", "checkout")]));
    assert_eq!(updated.default_health_check, Some(check));
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at >= created.updated_at);
    assert_eq!(s.get_service(&ctx(), &id).await.unwrap(), updated);

    s.delete_service(&ctx(), &id).await.unwrap();
    expect_not_found(
        s.get_service(&ctx(), &id).await,
        "service acme/DEFAULT_GROUP/orders does not exist",
    );
    // The group stays.
    s.get_group(&ctx(), TENANT, GROUP).await.unwrap();

    // Defaults when nothing is given.
    let plain = s
        .create_service(&ctx(), &sid("plain"), &ServiceSettings::default())
        .await
        .unwrap();
    assert!(plain.metadata.is_empty());
    assert_eq!(plain.protect_threshold, 0.0);
    assert_eq!(plain.default_health_check, None);
    assert_eq!(plain.load_balance, LoadBalance::RoundRobin);
    assert_eq!(s.get_service(&ctx(), &sid("plain")).await.unwrap(), plain);
}

pub(crate) async fn duplicate_service_conflicts(f: &Fixture) {
    let s = &f.store;
    let id = sid("orders");
    s.create_service(&ctx(), &id, &ServiceSettings::default())
        .await
        .unwrap();
    expect_conflict(
        s.create_service(&ctx(), &id, &ServiceSettings::default())
            .await,
        "service acme/DEFAULT_GROUP/orders already exists",
    );
    // Names are case-sensitive on every engine.
    s.create_service(&ctx(), &sid("Orders"), &ServiceSettings::default())
        .await
        .unwrap();
    // ensure_service finds the existing one.
    let (found, created) = s.ensure_service(&ctx(), &id).await.unwrap();
    assert!(!created);
    assert_eq!(found.id, id);
    assert_eq!(count(s, "reg_services").await, 2);
}

pub(crate) async fn concurrent_ensure_service_creates_once(f: &Fixture) {
    let s = &f.store;
    // A fresh group too, so the group's creation races as well.
    let id = ServiceId::new(TENANT, "fresh-group", "orders");
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let s = s.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(
            async move { s.ensure_service(&ctx(), &id).await },
        ));
    }
    let mut created = 0;
    let mut services = Vec::new();
    for task in tasks {
        let (service, was_created) = task.await.unwrap().unwrap();
        created += usize::from(was_created);
        services.push(service);
    }
    assert_eq!(created, 1);
    // Everyone sees the same service.
    assert!(
        services.iter().all(|svc| *svc == services[0]),
        "{services:?}"
    );
    assert_eq!(count(s, "reg_services").await, 1);
    assert_eq!(count(s, "reg_groups").await, 1);
}

pub(crate) async fn concurrent_create_service_has_one_winner(f: &Fixture) {
    let s = &f.store;
    let mut tasks = Vec::new();
    for n in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let settings = ServiceSettings {
                metadata: Some(meta(&[("creator", &n.to_string())])),
                ..ServiceSettings::default()
            };
            s.create_service(&ctx(), &sid("orders"), &settings).await
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
    assert_eq!(count(s, "reg_services").await, 1);
    assert_eq!(count(s, "reg_groups").await, 1);
}

pub(crate) async fn service_creates_its_group(f: &Fixture) {
    let s = &f.store;
    let id = ServiceId::new(TENANT, "payments", "ledger");
    expect_not_found(
        s.get_group(&ctx(), TENANT, "payments").await,
        "group acme/payments does not exist",
    );
    s.create_service(&ctx(), &id, &ServiceSettings::default())
        .await
        .unwrap();
    let group = s.get_group(&ctx(), TENANT, "payments").await.unwrap();
    assert_eq!(
        (group.tenant.as_str(), group.name.as_str()),
        (TENANT, "payments")
    );
    assert_eq!(group.description, "");
    assert!(group.register_tokens.is_empty());
    assert_eq!(group.register_token_count, 0);

    // An existing group is used as it is: its settings stay.
    let settings = GroupSettings {
        description: Some("billing".into()),
        register_tokens: Some(vec!["secret-token-1".into()]),
    };
    s.create_group(&ctx(), TENANT, "billing", &settings)
        .await
        .unwrap();
    s.ensure_service(&ctx(), &ServiceId::new(TENANT, "billing", "invoices"))
        .await
        .unwrap();
    let billing = s.get_group(&ctx(), TENANT, "billing").await.unwrap();
    assert_eq!(billing.description, "billing");
    assert_eq!(billing.register_tokens, ["secret-token-1"]);
    assert_eq!(count(s, "reg_groups").await, 2);
}

pub(crate) async fn not_found_names_the_thing(f: &Fixture) {
    let s = &f.store;
    let id = sid("ghost");
    let msg = "service acme/DEFAULT_GROUP/ghost does not exist";
    expect_not_found(s.get_service(&ctx(), &id).await, msg);
    expect_not_found(
        s.update_service(&ctx(), &id, &ServiceSettings::default())
            .await,
        msg,
    );
    expect_not_found(s.delete_service(&ctx(), &id).await, msg);
    expect_not_found(
        s.put_instance(&ctx(), &persistent(&id, "10.0.0.1", 80))
            .await,
        msg,
    );
    let gmsg = "group acme/nowhere does not exist";
    expect_not_found(s.get_group(&ctx(), TENANT, "nowhere").await, gmsg);
    expect_not_found(
        s.update_group(&ctx(), TENANT, "nowhere", &GroupSettings::default())
            .await,
        gmsg,
    );
    expect_not_found(s.delete_group(&ctx(), TENANT, "nowhere").await, gmsg);
    assert_eq!(s.get_instance(&ctx(), TENANT, "nope").await.unwrap(), None);
    assert!(!s.delete_instance(&ctx(), TENANT, "nope").await.unwrap());
    assert!(s.instances_of(&ctx(), &id).await.unwrap().is_empty());
}

pub(crate) async fn list_services_paginates_by_group_and_name(f: &Fixture) {
    let s = &f.store;
    for (group, name) in [
        ("g2", "alpha"),
        ("g1", "delta"),
        ("g1", "bravo"),
        ("g2", "charlie"),
        ("g1", "echo"),
    ] {
        s.create_service(
            &ctx(),
            &ServiceId::new(TENANT, group, name),
            &ServiceSettings::default(),
        )
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    for n in 1..=3 {
        let p = s.list_services(&ctx(), TENANT, None, n, 2).await.unwrap();
        assert_eq!((p.total, p.page, p.size), (5, n, 2));
        seen.extend(
            p.items
                .into_iter()
                .map(|svc| format!("{}/{}", svc.id.group, svc.id.service)),
        );
    }
    assert_eq!(
        seen,
        ["g1/bravo", "g1/delta", "g1/echo", "g2/alpha", "g2/charlie"]
    );
    let past = s.list_services(&ctx(), TENANT, None, 4, 2).await.unwrap();
    assert!(past.items.is_empty());
    assert_eq!(past.total, 5);

    let g2 = s
        .list_services(&ctx(), TENANT, Some("g2"), 1, 10)
        .await
        .unwrap();
    assert_eq!(g2.total, 2);
    let names: Vec<_> = g2.items.iter().map(|svc| svc.id.service.as_str()).collect();
    assert_eq!(names, ["alpha", "charlie"]);
    let none = s
        .list_services(&ctx(), TENANT, Some("g9"), 1, 10)
        .await
        .unwrap();
    assert_eq!((none.items.len(), none.total), (0, 0));
}

pub(crate) async fn tenants_are_isolated(f: &Fixture) {
    let s = &f.store;
    let a = ServiceId::new("tenant-a", GROUP, "orders");
    let b = ServiceId::new("tenant-b", GROUP, "orders");
    let sa = ServiceSettings {
        protect_threshold: Some(0.1),
        ..ServiceSettings::default()
    };
    let sb = ServiceSettings {
        protect_threshold: Some(0.9),
        ..ServiceSettings::default()
    };
    s.create_service(&ctx(), &a, &sa).await.unwrap();
    // The same group and service name in another tenant is another service.
    s.create_service(&ctx(), &b, &sb).await.unwrap();
    s.create_service(&ctx(), &ServiceId::new("tenant-b", GROUP, "users"), &sb)
        .await
        .unwrap();
    assert_eq!(
        s.get_service(&ctx(), &a).await.unwrap().protect_threshold,
        0.1
    );
    assert_eq!(
        s.get_service(&ctx(), &b).await.unwrap().protect_threshold,
        0.9
    );

    let la = s
        .list_services(&ctx(), "tenant-a", None, 1, 10)
        .await
        .unwrap();
    assert_eq!(la.total, 1);
    assert_eq!(la.items[0].id, a);
    let lb = s
        .list_services(&ctx(), "tenant-b", None, 1, 10)
        .await
        .unwrap();
    assert_eq!(lb.total, 2);
    assert!(lb.items.iter().all(|svc| svc.id.tenant == "tenant-b"));
    let ga = s.list_groups(&ctx(), "tenant-a", 1, 10).await.unwrap();
    assert_eq!(ga.total, 1);
    assert_eq!(ga.items[0].tenant, "tenant-a");

    // Instances with the same id in two tenants are two instances.
    let mut ia = persistent(&a, "10.0.0.1", 80);
    let mut ib = persistent(&b, "10.0.0.1", 80);
    ia.instance_id = "same-id".into();
    ib.instance_id = "same-id".into();
    ib.weight = 7.0;
    s.put_instance(&ctx(), &ia).await.unwrap();
    s.put_instance(&ctx(), &ib).await.unwrap();
    let got_a = s.get_instance(&ctx(), "tenant-a", "same-id").await.unwrap();
    let got_b = s.get_instance(&ctx(), "tenant-b", "same-id").await.unwrap();
    assert_eq!(got_a, Some(ia));
    assert_eq!(got_b, Some(ib));

    // Deleting in one tenant leaves the other alone.
    s.delete_instance(&ctx(), "tenant-a", "same-id")
        .await
        .unwrap();
    s.delete_service(&ctx(), &a).await.unwrap();
    s.get_service(&ctx(), &b).await.unwrap();
    assert!(
        s.get_instance(&ctx(), "tenant-b", "same-id")
            .await
            .unwrap()
            .is_some()
    );
}

pub(crate) async fn ensure_service_racing_delete_group_always_succeeds(f: &Fixture) {
    // One task keeps deleting the group whenever it is empty while another creates and
    // deletes services in it: every creation must find or re-create its group, and no
    // service is ever left without one.
    let s = &f.store;
    let creator = {
        let s = s.clone();
        tokio::spawn(async move {
            for n in 0..20 {
                let id = ServiceId::new(TENANT, "churn", format!("svc-{n}"));
                let (_, created) = s.ensure_service(&ctx(), &id).await.unwrap();
                assert!(created);
                s.delete_service(&ctx(), &id).await.unwrap();
            }
        })
    };
    let deleter = {
        let s = s.clone();
        tokio::spawn(async move {
            let mut deleted = 0;
            for _ in 0..40 {
                match s.delete_group(&ctx(), TENANT, "churn").await {
                    Ok(()) => deleted += 1,
                    Err(Error::Conflict(_) | Error::NotFound(_)) => {}
                    Err(other) => panic!("unexpected error: {other}"),
                }
                tokio::task::yield_now().await;
            }
            deleted
        })
    };
    creator.await.unwrap();
    deleter.await.unwrap();
    assert_eq!(count(s, "reg_services").await, 0);
    assert!(count(s, "reg_groups").await <= 1);
}
