//! The real Nacos Python client, nacos-sdk-python 0.1.17, against `keel serve`: login,
//! register, beat (including the auto-registration of a full beat), list, read one, modify
//! (disable), deregister, and namespace isolation — unchanged client code, keel as its server.
//!
//! The client lives in a virtualenv under `target/nacos-venv` (or `KEEL_NACOS_VENV`), created
//! on first use with `python3 -m venv` and `pip install nacos-sdk-python==0.1.17`. Without
//! Python or PyPI the test is skipped with a printed reason — except under `CI=true`, where it
//! fails.
// Helpers are test code: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::free_port;

/// The client version docs/nacos-wire.md §7 was recorded with.
const CLIENT: &str = "nacos-sdk-python==0.1.17";

/// Every call a Python service makes to its registry, checked as it goes.
const SCRIPT: &str = r#"
import sys
import nacos

addr, log_dir = sys.argv[1], sys.argv[2]

def ids(listing):
    return sorted(h["instanceId"] for h in listing["hosts"])

# Credentials make the client log in from its constructor.
c = nacos.NacosClient(addr, namespace="", username="nacos", password="nacos", logDir=log_dir)
assert c.token, "no token after login"

assert c.add_naming_instance("py-svc", "10.0.0.1", 8080, metadata={"k": "v"}) is True
beat = c.send_heartbeat("py-svc", "10.0.0.1", 8080, metadata={"k": "v"})
assert beat["code"] == 10200, beat
# A full beat of an instance the server does not know registers it.
beat = c.send_heartbeat("py-svc", "10.0.0.2", 8081)
assert beat["code"] == 10200, beat

listing = c.list_naming_instance("py-svc", healthy_only=True)
assert listing["name"] == "DEFAULT_GROUP@@py-svc", listing
assert ids(listing) == [
    "10.0.0.1#8080#None#DEFAULT_GROUP@@py-svc",
    "10.0.0.2#8081#DEFAULT#DEFAULT_GROUP@@py-svc",
], listing
first = [h for h in listing["hosts"] if h["ip"] == "10.0.0.1"][0]
assert first["metadata"] == {"k": "v"}, first
assert first["weight"] == 1.0 and first["healthy"] and first["enabled"], first

one = c.get_naming_instance("py-svc", "10.0.0.1", 8080)
assert one["instanceId"] == "10.0.0.1#8080#None#DEFAULT_GROUP@@py-svc", one

assert c.modify_naming_instance("py-svc", "10.0.0.1", 8080, enable=False, weight=2.0) is True
assert ids(c.list_naming_instance("py-svc")) == ["10.0.0.2#8081#DEFAULT#DEFAULT_GROUP@@py-svc"]

assert c.remove_naming_instance("py-svc", "10.0.0.1", 8080) is True
assert c.remove_naming_instance("py-svc", "10.0.0.2", 8081) is True
assert c.list_naming_instance("py-svc")["hosts"] == []

# Another namespace is another tenant.
other = nacos.NacosClient(addr, namespace="team-py", logDir=log_dir)
assert other.add_naming_instance("py-svc", "10.0.0.3", 80, group_name="G") is True
assert ids(other.list_naming_instance("py-svc", group_name="G")) == ["10.0.0.3#80#None#G@@py-svc"]
assert c.list_naming_instance("py-svc", group_name="G")["hosts"] == []

print("all good")
"#;

#[test]
fn nacos_sdk_python_registers_beats_lists_and_deregisters() {
    let Some(python) = venv_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = common::start(dir.path(), free_port());
    let script = dir.path().join("naming.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let logs = dir.path().join("py-logs");
    let output = Command::new(&python)
        .arg(&script)
        .arg(format!("127.0.0.1:{}", server.port))
        .arg(&logs)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all good"),
        "the Python client failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    server.terminate();
}

/// The portable scenario (nacos/compat/scenario.py: config publish, read, watch, delete;
/// namespaces; register, beat, list, deregister) prints exactly the transcript Nacos and
/// r-nacos give (nacos/compat/scenario.expected; nacos/compat/compare.sh runs it against both).
#[test]
fn nacos_sdk_python_scenario_gives_the_transcript_nacos_servers_give() {
    scenario(None);
}

/// The same scenario with auth on: the client logs in as `nacos` and sends its token on every
/// call, the listener included.
#[test]
fn nacos_sdk_python_scenario_with_auth_on() {
    scenario(Some(
        "[nacos]\ntoken_secret = \"a secret of at least thirty-two bytes\"\nusers = [{ username = \"nacos\", password = \"nacos\" }]\n",
    ));
}

fn scenario(keel_toml: Option<&str>) {
    let Some(python) = venv_python() else {
        return;
    };
    let compat = Path::new(env!("CARGO_MANIFEST_DIR")).join("../nacos/compat");
    let expected = std::fs::read_to_string(compat.join("scenario.expected")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = keel_toml.map(|text| {
        let path = dir.path().join("keel.toml");
        std::fs::write(&path, text).unwrap();
        path
    });
    let server = common::start_with(&dir.path().join("data"), free_port(), config.as_deref());
    let output = Command::new(&python)
        .arg(compat.join("scenario.py"))
        .arg(format!("127.0.0.1:{}", server.port))
        .arg(dir.path().join("py-logs"))
        .arg("keel")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the scenario failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert_eq!(stdout, expected, "stderr:\n{stderr}");
    server.terminate();
}

/// The virtualenv's python with the client installed, creating it when needed; `None` (after
/// printing why) when that is impossible here.
fn venv_python() -> Option<PathBuf> {
    let venv = std::env::var_os("KEEL_NACOS_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/nacos-venv"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    let installed = |python: &Path| {
        Command::new(python)
            .args(["-c", "import nacos"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if installed(&python) {
        return Some(python);
    }
    let steps: [(&str, Vec<&std::ffi::OsStr>); 2] = [
        (
            "python3",
            vec!["-m".as_ref(), "venv".as_ref(), venv.as_os_str()],
        ),
        (
            python.to_str().unwrap_or("python"),
            vec![
                "-m".as_ref(),
                "pip".as_ref(),
                "install".as_ref(),
                "-q".as_ref(),
                CLIENT.as_ref(),
            ],
        ),
    ];
    for (program, args) in steps {
        let done = Command::new(program).args(&args).output();
        let failure = match done {
            Ok(o) if o.status.success() => continue,
            Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
            Err(e) => e.to_string(),
        };
        return skip(format!(
            "cannot prepare {CLIENT} in {}: `{program} {args:?}` failed: {failure}",
            venv.display()
        ));
    }
    if installed(&python) {
        Some(python)
    } else {
        skip(format!(
            "{CLIENT} does not import from {}",
            python.display()
        ))
    }
}

/// Skips with `reason` — or fails, under CI.
fn skip(reason: String) -> Option<PathBuf> {
    assert!(
        !keel_testkit::is_ci(),
        "{reason} (CI=true: this test must run)"
    );
    eprintln!("skipping: {reason}");
    None
}
