//! Line formats, namespaces, trace ids and run-time level changes, written to a real file.

use std::time::Duration;

use keel_clog::{Config, Context, Env, Format, Logger, Output, Telemetry, extract, inject};
use serde_json::Value;

fn file_config(dir: &std::path::Path, format: Format, level: &str) -> Config {
    let mut config = Config::for_env(Env::Production).with_service("order");
    config.format = format;
    config.level = level.into();
    config.output = Output::File {
        path: dir.join("keel.log"),
        max_bytes: 1 << 20,
        keep: 2,
    };
    config
}

fn json_lines(dir: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("keel.log"))
        .expect("the log file exists")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

#[test]
fn json_lines_carry_service_namespace_and_trace_id() {
    let dir = tempfile::tempdir().unwrap();
    let (dispatch, _telemetry) =
        Telemetry::build(file_config(dir.path(), Format::Json, "info")).unwrap();
    let ctx = Context::new();
    let logger = Logger::new("order").named("db");
    tracing::dispatcher::with_default(&dispatch, || {
        logger.span(&ctx, "insert").in_scope(|| {
            tracing::info!(rows = 3, table = "orders", "inserted");
            tracing::debug!("filtered out at info");
            // A nested plain span does not hide the context.
            tracing::info_span!("inner").in_scope(|| tracing::warn!(msg = "clash", "nested"));
        });
        tracing::info!("outside any context");
    });
    let lines = json_lines(dir.path());
    assert_eq!(lines.len(), 3, "{lines:?}");
    let first = &lines[0];
    assert_eq!(first["service"], "order");
    assert_eq!(first["ns"], "order.db");
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["msg"], "inserted");
    assert_eq!(first["rows"], 3);
    assert_eq!(first["table"], "orders");
    assert_eq!(first["trace_id"], ctx.trace_id().to_string());
    assert_eq!(first["span_id"], ctx.span_id().to_string());
    assert!(first["ts"].as_str().unwrap().ends_with('Z'));
    let nested = &lines[1];
    assert_eq!(nested["trace_id"], ctx.trace_id().to_string());
    assert_eq!(nested["ns"], "order.db");
    assert_eq!(nested["msg"], "nested");
    assert_eq!(nested["field_msg"], "clash");
    let outside = &lines[2];
    assert_eq!(outside["service"], "order");
    assert!(outside.get("trace_id").is_none());
}

#[test]
fn console_lines_are_readable_and_carry_the_trace_id() {
    let dir = tempfile::tempdir().unwrap();
    let (dispatch, _telemetry) =
        Telemetry::build(file_config(dir.path(), Format::Console, "debug")).unwrap();
    let ctx = Context::new();
    tracing::dispatcher::with_default(&dispatch, || {
        Logger::new("order")
            .span(&ctx, "op")
            .in_scope(|| tracing::debug!(user = "ann", n = 2, "hello"));
    });
    let text = std::fs::read_to_string(dir.path().join("keel.log")).unwrap();
    let line = text.lines().next().unwrap();
    assert!(line.contains("DEBUG order order"), "{line}");
    assert!(
        line.contains(&format!("trace={}", ctx.trace_id())),
        "{line}"
    );
    assert!(line.ends_with(r#": hello user="ann" n=2"#), "{line}");
}

#[test]
fn level_changes_at_run_time_and_bad_levels_keep_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let (dispatch, telemetry) =
        Telemetry::build(file_config(dir.path(), Format::Json, "info")).unwrap();
    let ctx = Context::new();
    tracing::dispatcher::with_default(&dispatch, || {
        let span = Logger::new("svc").span(&ctx, "op");
        let _entered = span.enter();
        tracing::debug!("hidden");
        telemetry.level().set("debug").unwrap();
        tracing::debug!("shown");
        let err = telemetry.level().set("verbose!!").unwrap_err();
        assert!(err.to_string().contains("verbose!!"));
        assert_eq!(telemetry.level().current(), "debug");
        telemetry.level().set("warn").unwrap();
        tracing::info!("hidden again");
        tracing::warn!("warned");
    });
    let lines = json_lines(dir.path());
    let messages: Vec<_> = lines.iter().map(|l| l["msg"].as_str().unwrap()).collect();
    assert_eq!(messages, ["shown", "warned"]);
    // At level warn the context span is still there, so the warning keeps its trace id.
    assert_eq!(lines[1]["trace_id"], ctx.trace_id().to_string());
}

#[tokio::test]
async fn trace_id_survives_an_http_hop_and_async_instrumentation() {
    use tracing::Instrument;
    use tracing::instrument::WithSubscriber;

    let dir = tempfile::tempdir().unwrap();
    let (dispatch, _telemetry) =
        Telemetry::build(file_config(dir.path(), Format::Json, "info")).unwrap();
    let caller = Context::new().with_timeout(Duration::from_secs(30));
    let mut headers = http::HeaderMap::new();
    inject(&caller, &mut headers);
    let callee = extract(&headers);
    let logger = Logger::new("gateway");
    // The span must be created under the dispatcher that will record it.
    let span = tracing::dispatcher::with_default(&dispatch, || logger.span(&callee, "handle"));
    async {
        tokio::task::yield_now().await;
        tracing::info!("handled");
    }
    .instrument(span)
    .with_subscriber(dispatch)
    .await;
    let lines = json_lines(dir.path());
    assert_eq!(lines[0]["trace_id"], caller.trace_id().to_string());
    assert!(callee.remaining().unwrap() > Duration::from_secs(29));
}

#[test]
fn file_output_rotates_and_keeps_the_configured_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = file_config(dir.path(), Format::Json, "info");
    config.output = Output::File {
        path: dir.path().join("keel.log"),
        max_bytes: 4096,
        keep: 2,
    };
    let (dispatch, _telemetry) = Telemetry::build(config).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..200 {
            tracing::info!(i, padding = "x".repeat(40), "line");
        }
    });
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["keel.log", "keel.log.1", "keel.log.2"]);
    for name in &names {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(text.len() <= 4096);
        for line in text.lines() {
            serde_json::from_str::<Value>(line).unwrap();
        }
    }
}

#[test]
fn invalid_config_is_refused_before_anything_is_opened() {
    let mut config = Config::for_env(Env::Development);
    config.level = "nope=what=".into();
    assert!(Telemetry::build(config).is_err());
}
