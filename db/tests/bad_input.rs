//! Bad configuration fails `new` with a clear error — and never shows the password, neither in
//! the error nor in a log line.

use std::time::Duration;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use std::time::Instant;

use keel_clog::{Context, Env, Format, Output, Telemetry};
use keel_db::{Config, Error, Options};
use tracing::instrument::WithSubscriber;

const SECRET: &str = "hunter2-S3cret";

fn ctx() -> Context {
    Context::new().with_timeout(Duration::from_secs(30))
}

async fn open(url: &str) -> Error {
    let mut config = Config::for_env(Env::Production).with_url(url);
    config.connect_timeout = Duration::from_secs(3);
    keel_db::new(&ctx(), config, Options::default())
        .await
        .expect_err("new must fail")
}

fn assert_secret_free(err: &Error) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains(SECRET), "password leaked: {text}");
}

#[tokio::test]
async fn unsupported_scheme_is_refused_before_any_io() {
    let err = open(&format!("redis://u:{SECRET}@127.0.0.1:6379/0")).await;
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err}");
    assert!(
        err.to_string().contains("unsupported scheme \"redis\""),
        "{err}"
    );
    assert!(err.to_string().contains("u:***@127.0.0.1"), "{err}");
    assert_secret_free(&err);
}

#[tokio::test]
async fn unparsable_urls_are_refused() {
    for url in [
        format!("postgres://keel:{SECRET}@127.0.0.1:99999/keel"),
        format!("postgres://keel:{SECRET}@/keel"),
        format!("mysql://keel:{SECRET}@127.0.0.1:3306"),
        format!("mysql://keel:{SECRET}@[::1/keel"),
        "sqlite://".to_owned(),
        "sqlite://x.db?mode=ro".to_owned(),
        String::new(),
    ] {
        let err = open(&url).await;
        assert!(
            matches!(
                err,
                Error::InvalidUrl { .. }
                    | Error::InvalidConfig(_)
                    | Error::EngineNotCompiled { .. }
            ),
            "{url}: {err}"
        );
        assert_secret_free(&err);
    }
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn unreachable_postgres_fails_fast_with_the_reason() {
    let started = Instant::now();
    let err = open(&format!(
        "postgres://keel:{SECRET}@127.0.0.1:1/keel?sslmode=disable"
    ))
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(matches!(err, Error::Connect { .. }), "{text}");
    assert!(
        text.contains("postgres://keel:***@127.0.0.1:1/keel"),
        "{text}"
    );
    assert!(
        text.to_lowercase().contains("refused"),
        "the driver's reason: {text}"
    );
    assert_secret_free(&err);
    assert!(err.is_transient());
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn unreachable_mysql_fails_fast_with_the_reason() {
    let started = Instant::now();
    let err = open(&format!("mysql://keel:{SECRET}@127.0.0.1:1/keel")).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("mysql://keel:***@127.0.0.1:1/keel"),
        "{err}"
    );
    assert_secret_free(&err);
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn wrong_mysql_password_is_a_connect_error() {
    let Some(url) = keel_testkit::backend(keel_testkit::Backend::Mysql) else {
        return;
    };
    let mut url = url::Url::parse(&url).expect("KEEL_TEST_MYSQL parses");
    url.set_password(Some(SECRET)).expect("set password");
    let err = open(url.as_str()).await;
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(err.to_string().contains("Access denied"), "{err}");
    assert_secret_free(&err);
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn missing_postgres_database_is_a_connect_error() {
    let Some(url) = keel_testkit::backend(keel_testkit::Backend::Postgres) else {
        return;
    };
    let mut url = url::Url::parse(&url).expect("KEEL_TEST_POSTGRES parses");
    url.set_path("/kt_no_such_database");
    url.set_password(Some(SECRET)).expect("set password");
    let err = open(url.as_str()).await;
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(err.to_string().contains("kt_no_such_database"), "{err}");
    assert_secret_free(&err);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_data_dir_that_cannot_be_created_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"a file").expect("write file");
    let mut config = Config::for_env(Env::Development);
    config.data_dir = blocker.join("data");
    let err = keel_db::new(&ctx(), config, Options::default())
        .await
        .expect_err("cannot create a dir under a file");
    assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

#[tokio::test]
async fn engines_not_compiled_in_are_named() {
    let config = Config::for_env(Env::Production);
    let result = config.validate();
    assert_eq!(result.is_ok(), cfg!(feature = "postgres"), "{result:?}");
    if let Err(err) = result {
        assert!(
            err.to_string().contains("`postgres` cargo feature"),
            "{err}"
        );
    }
}

/// The log line written when `new` fails carries the redacted URL only.
#[tokio::test]
async fn log_lines_redact_the_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db.log");
    let mut log_config = keel_clog::Config::for_env(Env::Production);
    log_config.level = "debug".into();
    log_config.format = Format::Json;
    log_config.output = Output::File {
        path: path.clone(),
        max_bytes: 1 << 20,
        keep: 0,
    };
    let (dispatch, telemetry) = Telemetry::build(log_config).expect("telemetry");
    let url = if cfg!(feature = "postgres") {
        format!("postgres://keel:{SECRET}@127.0.0.1:1/keel")
    } else {
        format!("mysql://keel:{SECRET}@127.0.0.1:1/keel")
    };
    let mut config = Config::for_env(Env::Production).with_url(&url);
    config.connect_timeout = Duration::from_secs(3);
    let err = keel_db::new(&ctx(), config, Options::default())
        .with_subscriber(dispatch)
        .await
        .expect_err("unreachable");
    telemetry.flush().expect("flush");
    let logged = std::fs::read_to_string(&path).expect("log file");
    assert!(!logged.contains(SECRET), "password in the log: {logged}");
    if !matches!(err, Error::EngineNotCompiled { .. }) {
        assert!(
            logged.contains("keel:***@127.0.0.1:1"),
            "redacted URL logged: {logged}"
        );
    }
}
