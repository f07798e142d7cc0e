//! The checks an SDK's `ClientConfig::validate` shares with the other SDKs: server URLs and
//! the timing settings every SDK has. No network, no disk; messages say what to fix.

use std::time::Duration;

use crate::error::{Error, Result};

/// The longest long poll keel's services accept (they cap a longer wait to this).
pub const MAX_LONG_POLL: Duration = Duration::from_secs(120);

/// Checks `servers` (base URLs such as `http://127.0.0.1:8848`) without touching the network.
///
/// `service` names what the servers are (`"config center"`, `"registry"`) in the messages.
/// Every URL must be `http://host[:port]` with at most a trailing `/`: the SDKs add the API
/// path themselves, and https is not supported yet.
pub fn check_servers(servers: &[String], service: &str) -> Result<()> {
    if servers.is_empty() {
        return Err(Error::Config(
            "servers is empty: give at least one base URL such as http://127.0.0.1:8848".into(),
        ));
    }
    for server in servers {
        check_server(server, service)?;
    }
    Ok(())
}

fn check_server(server: &str, service: &str) -> Result<()> {
    let uri: hyper::Uri = server.parse().map_err(|e| {
        Error::Config(format!(
            "server {server:?} is not a URL ({e}); write it like http://127.0.0.1:8848"
        ))
    })?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(Error::Config(format!(
                "server {server:?}: https is not supported by this client yet; reach the \
                 {service} over http (a sidecar or a private network)"
            )));
        }
        _ => {
            return Err(Error::Config(format!(
                "server {server:?} must start with http://"
            )));
        }
    }
    if uri.authority().is_none() {
        return Err(Error::Config(format!(
            "server {server:?} has no host; write it like http://127.0.0.1:8848"
        )));
    }
    if uri.query().is_some() || !matches!(uri.path(), "" | "/") {
        return Err(Error::Config(format!(
            "server {server:?} must be a base URL without a path or query (the client adds \
             /api/v1/...)"
        )));
    }
    Ok(())
}

/// Checks the long-poll wait setting `what`: more than 0 and at most [`MAX_LONG_POLL`].
pub fn check_long_poll(what: &str, wait: Duration) -> Result<()> {
    if wait.is_zero() || wait > MAX_LONG_POLL {
        return Err(Error::Config(format!(
            "{what} {wait:?} must be more than 0 and at most {}s",
            MAX_LONG_POLL.as_secs()
        )));
    }
    Ok(())
}

/// Checks that each `(setting, value)` is more than 0; the first that is not is the error.
pub fn check_not_zero(settings: &[(&str, Duration)]) -> Result<()> {
    match settings.iter().find(|(_, value)| value.is_zero()) {
        Some((what, _)) => Err(Error::Config(format!("{what} must be more than 0"))),
        None => Ok(()),
    }
}

/// Checks the backoff after every server failed: `max_retry_interval` is not shorter than
/// `retry_interval`, which doubles up to it.
pub fn check_retry_intervals(retry_interval: Duration, max_retry_interval: Duration) -> Result<()> {
    if max_retry_interval < retry_interval {
        return Err(Error::Config(format!(
            "max_retry_interval {max_retry_interval:?} is shorter than retry_interval \
             {retry_interval:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(servers: &[&str]) -> Result<()> {
        let servers: Vec<String> = servers.iter().map(|s| (*s).to_owned()).collect();
        check_servers(&servers, "registry")
    }

    #[test]
    fn base_urls_with_or_without_a_trailing_slash_are_valid() {
        check(&["http://127.0.0.1:8848"]).unwrap();
        check(&["http://localhost:8848/", "http://10.0.0.2:8848"]).unwrap();
    }

    #[test]
    fn bad_servers_say_what_to_fix() {
        let cases: [(&[&str], &str); 6] = [
            (&[], "servers is empty"),
            (&["localhost:8848"], "http://"),
            (&["https://h:1"], "reach the registry over http"),
            (&["http://h:1/api"], "without a path"),
            (&["http://h:1/?a=b"], "without a path or query"),
            (&["http://h:1", "not a url"], "is not a URL"),
        ];
        for (servers, expected) in cases {
            let err = check(servers).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{err:?}");
            let err = err.to_string();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
        }
    }

    #[test]
    fn timing_settings_say_what_to_fix() {
        check_long_poll("long_poll_wait", Duration::from_secs(120)).unwrap();
        for wait in [Duration::ZERO, Duration::from_secs(600)] {
            let err = check_long_poll("poll_timeout", wait)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("poll_timeout") && err.contains("at most 120s"),
                "{err}"
            );
        }
        let second = Duration::from_secs(1);
        check_not_zero(&[("a", second), ("b", second)]).unwrap();
        let err = check_not_zero(&[("a", second), ("b", Duration::ZERO), ("c", Duration::ZERO)])
            .unwrap_err()
            .to_string();
        assert_eq!(err, "b must be more than 0");
        check_retry_intervals(second, second).unwrap();
        let err = check_retry_intervals(second, Duration::from_millis(1))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "max_retry_interval 1ms is shorter than retry_interval 1s"
        );
    }
}
