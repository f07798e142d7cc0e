//! Gray releases: one active per namespace, replaced by a new one, merged into a normal
//! release or abandoned; the current release is untouched until a merge.
#![allow(clippy::unwrap_used)]

use keel_config_center::GrayRules;

use std::fmt::Debug;

use keel_config_center::{Error, NewGray};

use super::{ACTOR, ENV, app_ns, configs, new_app, write};
use crate::store::{Fixture, ctx};

fn not_active<T: Debug>(out: keel_config_center::Result<T>, key: &str) {
    match out {
        Err(Error::NotFound(m)) => {
            assert!(m.contains(key) && m.contains("not the active gray"), "{m}")
        }
        other => panic!("expected NotFound for {key}, got {other:?}"),
    }
}

fn gray<'a>(key: &'a str, name: &'a str, comment: &'a str, rules: &'a GrayRules) -> NewGray<'a> {
    NewGray {
        release_key: key,
        name,
        comment,
        rules,
    }
}

fn canary() -> GrayRules {
    GrayRules {
        ips: vec!["10.0.0.0/8".into()],
        labels: vec!["canary".into()],
    }
}

pub(crate) async fn gray_releases_replace_merge_and_abandon(f: &Fixture) {
    let s = &f.store;
    let rules = canary();
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    let id = app_ns("orders");
    s.put_item(&ctx(), &id, &write("a", "1", None), ACTOR)
        .await
        .unwrap();
    s.create_release(&ctx(), &id, "m1", "v1", "", ACTOR)
        .await
        .unwrap();
    assert!(s.gray_release(&ctx(), &id).await.unwrap().is_none());

    s.put_item(&ctx(), &id, &write("a", "2", None), ACTOR)
        .await
        .unwrap();
    let g1 = s
        .create_gray(&ctx(), &id, gray("g1", "v2", "canary first", &rules), ACTOR)
        .await
        .unwrap();
    assert_eq!(g1.release.configs, configs(&[("a", "2")]));
    assert_eq!(g1.rules, canary());
    let (current, active) = s.current_and_gray(&ctx(), &id).await.unwrap();
    assert_eq!(current.unwrap().release_key, "m1");
    assert_eq!(active.unwrap().release.release_key, "g1");
    assert_eq!(s.gray_release(&ctx(), &id).await.unwrap(), Some(g1));
    // The current release is still the main one.
    assert_eq!(
        s.current_release(&ctx(), &id)
            .await
            .unwrap()
            .unwrap()
            .release_key,
        "m1"
    );

    // A new gray release replaces the active one.
    s.put_item(&ctx(), &id, &write("a", "3", None), ACTOR)
        .await
        .unwrap();
    s.create_gray(&ctx(), &id, gray("g2", "v3", "", &rules), ACTOR)
        .await
        .unwrap();
    let active = s.gray_release(&ctx(), &id).await.unwrap().unwrap();
    assert_eq!(active.release.release_key, "g2");
    not_active(s.merge_gray(&ctx(), &id, "g1", "m2", ACTOR).await, "g1");
    not_active(s.abandon_gray(&ctx(), &id, "g1", ACTOR).await, "g1");

    // Merge: a new current release with the gray configuration; the gray release ends.
    let merged = s.merge_gray(&ctx(), &id, "g2", "m2", ACTOR).await.unwrap();
    assert_eq!(merged.configs, configs(&[("a", "3")]));
    let current = s.current_release(&ctx(), &id).await.unwrap().unwrap();
    assert_eq!(
        (current.release_key.as_str(), current.configs),
        ("m2", configs(&[("a", "3")]))
    );
    assert!(s.gray_release(&ctx(), &id).await.unwrap().is_none());

    // Abandon: the gray release ends, nothing else changes.
    s.create_gray(&ctx(), &id, gray("g3", "v4", "", &rules), ACTOR)
        .await
        .unwrap();
    s.abandon_gray(&ctx(), &id, "g3", ACTOR).await.unwrap();
    assert!(s.gray_release(&ctx(), &id).await.unwrap().is_none());
    assert_eq!(
        s.current_release(&ctx(), &id)
            .await
            .unwrap()
            .unwrap()
            .release_key,
        "m2"
    );

    let history = s
        .history(
            &ctx(),
            &id,
            keel_config_center::PageRequest { page: 1, size: 50 },
        )
        .await
        .unwrap();
    let actions: Vec<&str> = history.items.iter().map(|h| h.action.as_str()).collect();
    for action in ["gray.create", "gray.merge", "gray.abandon"] {
        assert!(actions.contains(&action), "{actions:?}");
    }
    // Deleting the namespace's app takes its gray release with it.
    s.create_gray(&ctx(), &id, gray("g4", "v5", "", &rules), ACTOR)
        .await
        .unwrap();
    s.delete_app(&ctx(), ENV, "orders", ACTOR).await.unwrap();
    s.create_app(&ctx(), ENV, &new_app("orders"), ACTOR)
        .await
        .unwrap();
    assert!(s.gray_release(&ctx(), &id).await.unwrap().is_none());
}
