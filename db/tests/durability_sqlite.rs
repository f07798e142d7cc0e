//! Acknowledged SQLite writes survive `kill -9` of the writing process, with
//! `synchronous = FULL` (the default) and `NORMAL` alike.
//!
//! The parent test re-runs this test binary as a child (`durability_child_process`, which does
//! nothing unless `KEEL_DB_DURABILITY_DIR` is set): the child inserts rows and prints each id
//! once its commit returned; the parent kills it mid-stream and checks every printed id is in
//! the file.
#![cfg(feature = "sqlite")]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keel_clog::{Context, Env};
use keel_db::{Config, Options, Synchronous, sqlx};

const DIR_ENV: &str = "KEEL_DB_DURABILITY_DIR";
const SYNC_ENV: &str = "KEEL_DB_DURABILITY_SYNC";
const ACKS_BEFORE_KILL: i64 = 300;

fn config(dir: &str, synchronous: Synchronous) -> Config {
    let mut config = Config::for_env(Env::Development);
    config.data_dir = dir.into();
    config.sqlite.synchronous = synchronous;
    config
}

/// The child: writes until killed.
#[tokio::test(flavor = "current_thread")]
async fn durability_child_process() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return; // only meaningful as the child of the tests below
    };
    let synchronous = match std::env::var(SYNC_ENV).as_deref() {
        Ok("normal") => Synchronous::Normal,
        _ => Synchronous::Full,
    };
    let ctx = Context::new();
    let db = keel_db::new(&ctx, config(&dir, synchronous), Options::default())
        .await
        .expect("open");
    db.execute_raw(
        &ctx,
        "CREATE TABLE acked (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)",
    )
    .await
    .expect("create table");
    let insert = db
        .dialect()
        .insert("acked", &["id", "payload"], None)
        .expect("sql");
    let mut out = std::io::stdout().lock();
    for id in 0..1_000_000_i64 {
        db.execute(
            &ctx,
            sqlx::query(insert.clone()).bind(id).bind("x".repeat(100)),
        )
        .await
        .expect("insert");
        // The commit returned: from here on the write is acknowledged.
        writeln!(out, "ack {id}").expect("stdout");
        out.flush().expect("flush");
    }
}

fn kill_mid_stream_then_check(synchronous: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir_str = dir.path().to_str().expect("utf-8 temp dir").to_owned();
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "durability_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, &dir_str)
        .env(SYNC_ENV, synchronous)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the writer");
    let stdout = child.stdout.take().expect("child stdout");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last_acked = -1_i64;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child output");
        if let Some(id) = line.strip_prefix("ack ") {
            last_acked = id.trim().parse().expect("ack id");
            if last_acked + 1 >= ACKS_BEFORE_KILL {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the writer is too slow");
    }
    // SIGKILL: no destructor, no checkpoint, no close.
    child.kill().expect("kill -9 the writer");
    child.wait().expect("reap the writer");
    assert!(
        last_acked + 1 >= ACKS_BEFORE_KILL,
        "only {} acks",
        last_acked + 1
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let ctx = Context::new().with_timeout(Duration::from_secs(30));
        let sync = if synchronous == "normal" {
            Synchronous::Normal
        } else {
            Synchronous::Full
        };
        let db = keel_db::new(&ctx, config(&dir_str, sync), Options::default())
            .await
            .expect("reopen after the crash");
        let (present,): (i64,) = db
            .fetch_one(
                &ctx,
                sqlx::query_as(db.dialect().sql("SELECT COUNT(*) FROM acked WHERE id <= ?"))
                    .bind(last_acked),
            )
            .await
            .expect("count");
        assert_eq!(present, last_acked + 1, "acknowledged writes lost");
        db.close().await.expect("close");
    });
}

#[test]
fn acknowledged_writes_survive_kill_9_with_synchronous_full() {
    kill_mid_stream_then_check("full");
}

#[test]
fn acknowledged_writes_survive_kill_9_with_synchronous_normal() {
    kill_mid_stream_then_check("normal");
}
