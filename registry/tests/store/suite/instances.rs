//! Persistent instances: upsert, their service, listings across tenants, bad input.

use keel_registry::{GroupSettings, HealthStatus, InstanceStatus, ServiceId, ServiceSettings};

use super::super::{Fixture, ctx};
use super::{
    TENANT, count, expect_conflict, expect_invalid, expect_not_found, meta, persistent, sid,
};

pub(crate) async fn put_instance_upserts(f: &Fixture) {
    let s = &f.store;
    let id = sid("orders");
    s.ensure_service(&ctx(), &id).await.unwrap();
    let first = persistent(&id, "10.0.0.1", 8080);
    s.put_instance(&ctx(), &first).await.unwrap();
    assert_eq!(
        s.get_instance(&ctx(), TENANT, &first.instance_id)
            .await
            .unwrap(),
        Some(first.clone())
    );

    // The same id again replaces the record: one row, the new fields.
    let mut second = first.clone();
    second.weight = 3.5;
    second.status = InstanceStatus::Down;
    second.checked_health = HealthStatus::Unhealthy;
    second.metadata = meta(&[("zone", "b"), ("rack", "7")]);
    second.updated_at = 2_000;
    s.put_instance(&ctx(), &second).await.unwrap();
    assert_eq!(count(s, "reg_instances").await, 1);
    assert_eq!(
        s.get_instance(&ctx(), TENANT, &first.instance_id)
            .await
            .unwrap(),
        Some(second.clone())
    );

    let other = persistent(&id, "10.0.0.2", 8080);
    s.put_instance(&ctx(), &other).await.unwrap();
    let mut expected = vec![second.clone(), other.clone()];
    expected.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    assert_eq!(s.instances_of(&ctx(), &id).await.unwrap(), expected);

    assert!(
        s.delete_instance(&ctx(), TENANT, &other.instance_id)
            .await
            .unwrap()
    );
    assert!(
        !s.delete_instance(&ctx(), TENANT, &other.instance_id)
            .await
            .unwrap()
    );
    assert_eq!(s.instances_of(&ctx(), &id).await.unwrap(), [second]);
}

pub(crate) async fn put_instance_needs_its_service(f: &Fixture) {
    let s = &f.store;
    let id = ServiceId::new(TENANT, "g", "missing");
    // Not even its group exists; put_instance creates neither.
    expect_not_found(
        s.put_instance(&ctx(), &persistent(&id, "h", 1)).await,
        "service acme/g/missing does not exist",
    );
    s.create_group(&ctx(), TENANT, "g", &GroupSettings::default())
        .await
        .unwrap();
    expect_not_found(
        s.put_instance(&ctx(), &persistent(&id, "h", 1)).await,
        "service acme/g/missing does not exist",
    );
    assert_eq!(count(s, "reg_instances").await, 0);
    assert_eq!(count(s, "reg_services").await, 0);

    // Ephemeral instances live on coord leases, never here.
    s.ensure_service(&ctx(), &id).await.unwrap();
    let mut ephemeral = persistent(&id, "h", 1);
    ephemeral.ephemeral = true;
    expect_invalid(s.put_instance(&ctx(), &ephemeral).await, "ephemeral");
    assert_eq!(count(s, "reg_instances").await, 0);
}

pub(crate) async fn delete_service_refused_with_persistent_instances(f: &Fixture) {
    let s = &f.store;
    let id = sid("orders");
    s.ensure_service(&ctx(), &id).await.unwrap();
    let a = persistent(&id, "10.0.0.1", 80);
    let b = persistent(&id, "10.0.0.2", 80);
    s.put_instance(&ctx(), &a).await.unwrap();
    s.put_instance(&ctx(), &b).await.unwrap();
    expect_conflict(
        s.delete_service(&ctx(), &id).await,
        "service acme/DEFAULT_GROUP/orders still has 2 persistent instance(s); delete them first",
    );
    s.delete_instance(&ctx(), TENANT, &a.instance_id)
        .await
        .unwrap();
    expect_conflict(s.delete_service(&ctx(), &id).await, "delete them first");
    s.delete_instance(&ctx(), TENANT, &b.instance_id)
        .await
        .unwrap();
    s.delete_service(&ctx(), &id).await.unwrap();
    assert_eq!(count(s, "reg_services").await, 0);
}

pub(crate) async fn all_listings_cover_every_tenant(f: &Fixture) {
    let s = &f.store;
    let ids = [
        ServiceId::new("t2", "g1", "b"),
        ServiceId::new("t1", "g2", "a"),
        ServiceId::new("t1", "g1", "z"),
    ];
    for id in &ids {
        s.ensure_service(&ctx(), id).await.unwrap();
        s.put_instance(&ctx(), &persistent(id, "10.0.0.1", 80))
            .await
            .unwrap();
    }
    s.create_group(&ctx(), "t3", "empty", &GroupSettings::default())
        .await
        .unwrap();
    let services: Vec<String> = s
        .all_services(&ctx())
        .await
        .unwrap()
        .into_iter()
        .map(|svc| svc.id.to_string())
        .collect();
    assert_eq!(services, ["t1/g1/z", "t1/g2/a", "t2/g1/b"]);
    let groups: Vec<String> = s
        .all_groups(&ctx())
        .await
        .unwrap()
        .into_iter()
        .map(|g| format!("{}/{}", g.tenant, g.name))
        .collect();
    assert_eq!(groups, ["t1/g1", "t1/g2", "t2/g1", "t3/empty"]);
    let instances: Vec<String> = s
        .all_instances(&ctx())
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.service_id().to_string())
        .collect();
    assert_eq!(instances, ["t1/g1/z", "t1/g2/a", "t2/g1/b"]);
}

pub(crate) async fn bad_input_is_invalid(f: &Fixture) {
    let s = &f.store;
    for (page, size) in [(0, 10), (1, 0), (1, 1001)] {
        expect_invalid(
            s.list_services(&ctx(), TENANT, None, page, size).await,
            "page must be at least 1",
        );
        expect_invalid(
            s.list_groups(&ctx(), TENANT, page, size).await,
            "page must be at least 1",
        );
    }
    expect_invalid(
        s.create_service(
            &ctx(),
            &ServiceId::new(TENANT, "g", "a/b"),
            &ServiceSettings::default(),
        )
        .await,
        "serviceName",
    );
    expect_invalid(
        s.ensure_service(&ctx(), &ServiceId::new("", "g", "a"))
            .await,
        "tenant",
    );
    expect_invalid(
        s.create_service(
            &ctx(),
            &sid("orders"),
            &ServiceSettings {
                protect_threshold: Some(1.5),
                ..ServiceSettings::default()
            },
        )
        .await,
        "protectThreshold",
    );
    expect_invalid(
        s.create_group(
            &ctx(),
            TENANT,
            "g",
            &GroupSettings {
                description: None,
                register_tokens: Some(vec!["short".into()]),
            },
        )
        .await,
        "register token",
    );
    expect_invalid(
        s.create_group(&ctx(), TENANT, "bad name", &GroupSettings::default())
            .await,
        "groupName",
    );
    assert_eq!(count(s, "reg_services").await, 0);
    assert_eq!(count(s, "reg_groups").await, 0);
}
