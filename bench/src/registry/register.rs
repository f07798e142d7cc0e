//! Registering N instances over C connections: keel one at a time
//! (`POST /api/v1/instances`) or in batches (`POST /api/v1/instances/batch`), Nacos v1 one at a
//! time (`POST /nacos/v1/ns/instance`). The connections take chunks of consecutive instances
//! from a shared counter until none is left.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Api, Services, keel_instance, micros, nacos_register};
use crate::http::{Answer, Conn, Url};
use crate::stats::{Summary, ms};

/// What to register.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The server.
    pub server: Url,
    /// Its API.
    pub api: Api,
    /// Where instance `i` goes.
    pub services: Services,
    /// Instances `0..count`.
    pub count: usize,
    /// Concurrent connections.
    pub connections: usize,
    /// keel only: instances per request (1: `POST /api/v1/instances`; more: the batch API,
    /// at most 1000).
    pub batch: usize,
    /// keel only: the `healthCheck` of every instance.
    pub check: Value,
}

/// Called once per registered instance with its index and (keel) its id.
pub type OnRegistered = Arc<dyn Fn(usize, Option<&str>) + Send + Sync>;

/// What a registration run did.
#[derive(Debug)]
pub struct Outcome {
    /// keel: the id of instance `i` (`None` if its registration failed); Nacos: all `None`.
    pub ids: Vec<Option<String>>,
    /// Instances registered.
    pub registered: usize,
    /// Requests that failed (broken connection, non-200, bad answer).
    pub errors: u64,
    /// The first error, for the report.
    pub first_error: Option<String>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Request latencies.
    pub latency: Summary,
}

impl Outcome {
    /// The run as JSON.
    pub fn to_json(&self, plan: &Plan) -> Value {
        let seconds = self.elapsed.as_secs_f64();
        json!({
            "count": plan.count,
            "connections": plan.connections,
            "batch": plan.batch,
            "registered": self.registered,
            "seconds": seconds,
            "registered_per_s": (self.registered as f64 / seconds.max(1e-9)).round(),
            "request_p50_ms": ms(self.latency.p50),
            "request_p99_ms": ms(self.latency.p99),
            "request_max_ms": ms(self.latency.max),
            "errors": self.errors,
            "first_error": self.first_error,
        })
    }
}

/// What one connection did.
#[derive(Default)]
struct Tally {
    ids: Vec<(usize, String)>,
    registered: usize,
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

/// Registers instances `0..plan.count`; `on_registered` sees each one as soon as its answer
/// arrives.
pub async fn register_all(plan: &Plan, on_registered: OnRegistered) -> io::Result<Outcome> {
    if plan.connections == 0 || plan.batch == 0 || plan.batch > 1000 {
        return Err(io::Error::other(
            "--connections must be ≥ 1 and --batch between 1 and 1000",
        ));
    }
    let batch = if plan.api == Api::Keel { plan.batch } else { 1 };
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        let conn = Conn::connect(&plan.server.addr, None).await?;
        let (plan, next, on) = (plan.clone(), Arc::clone(&next), Arc::clone(&on_registered));
        tasks.push(tokio::spawn(async move {
            worker(conn, &plan, batch, &next, on.as_ref()).await
        }));
    }
    let mut outcome = Outcome {
        ids: vec![None; plan.count],
        registered: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latency: Summary::of(&mut []),
    };
    let mut latencies = Vec::new();
    for task in tasks {
        let tally = task.await.map_err(io::Error::other)?;
        for (i, id) in tally.ids {
            outcome.ids[i] = Some(id);
        }
        outcome.registered += tally.registered;
        outcome.errors += tally.errors;
        outcome.first_error = outcome.first_error.or(tally.first_error);
        latencies.extend(tally.latencies_us);
    }
    outcome.elapsed = started.elapsed();
    outcome.latency = Summary::of(&mut latencies);
    Ok(outcome)
}

/// One connection: takes chunks of `batch` instances until all are taken.
async fn worker(
    mut conn: Conn,
    plan: &Plan,
    batch: usize,
    next: &AtomicUsize,
    on_registered: &(dyn Fn(usize, Option<&str>) + Send + Sync),
) -> Tally {
    let mut tally = Tally::default();
    loop {
        let first = next.fetch_add(batch, Ordering::Relaxed);
        if first >= plan.count {
            return tally;
        }
        let range = first..(first + batch).min(plan.count);
        let request = request(plan, batch, range.clone());
        let sent = Instant::now();
        let answer = conn.send(&request).await;
        tally.latencies_us.push(micros(sent.elapsed()));
        let result = match answer {
            Ok(answer) => accept(plan.api, &answer, range.len()),
            Err(e) => {
                if let Ok(fresh) = Conn::connect(&plan.server.addr, None).await {
                    conn = fresh;
                }
                Err(e)
            }
        };
        match result {
            Ok(ids) => {
                tally.registered += range.len();
                for (offset, i) in range.enumerate() {
                    let id = ids.get(offset).cloned();
                    on_registered(i, id.as_deref());
                    if let Some(id) = id {
                        tally.ids.push((i, id));
                    }
                }
            }
            Err(e) => {
                tally.errors += 1;
                tally.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// The request registering instances `range`.
fn request(plan: &Plan, batch: usize, range: std::ops::Range<usize>) -> Vec<u8> {
    match plan.api {
        Api::Nacos => nacos_register(&plan.server, &plan.services.of(range.start), range.start),
        Api::Keel if batch == 1 => {
            let i = range.start;
            let body = keel_instance(&plan.services.of(i), i, &plan.check);
            plan.server.with_path("/api/v1/instances").post_json(&body)
        }
        Api::Keel => {
            let instances: Vec<Value> = range
                .map(|i| keel_instance(&plan.services.of(i), i, &plan.check))
                .collect();
            plan.server
                .with_path("/api/v1/instances/batch")
                .post_json(&json!({ "instances": instances }))
        }
    }
}

/// The instance ids of a successful answer (keel), or nothing (Nacos answers `ok`).
fn accept(api: Api, answer: &Answer, expected: usize) -> io::Result<Vec<String>> {
    let refused = || {
        io::Error::other(format!(
            "registration answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ))
    };
    if answer.status != 200 {
        return Err(refused());
    }
    match api {
        Api::Nacos if answer.body == b"ok" => Ok(Vec::new()),
        Api::Nacos => Err(refused()),
        Api::Keel => {
            let data = answer.json()?["data"].clone();
            let one = |v: &Value| v["instanceId"].as_str().map(str::to_owned);
            let ids: Option<Vec<String>> = match &data {
                Value::Array(items) => items.iter().map(one).collect(),
                other => one(other).map(|id| vec![id]),
            };
            match ids {
                Some(ids) if ids.len() == expected => Ok(ids),
                _ => Err(refused()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: body.as_bytes().to_vec(),
            content_md5: None,
        }
    }

    #[test]
    fn answers_are_read() {
        let one = answer(200, r#"{"code":0,"data":{"instanceId":"a","revision":3}}"#);
        assert_eq!(accept(Api::Keel, &one, 1).unwrap(), vec!["a"]);
        let two = answer(
            200,
            r#"{"code":0,"data":[{"instanceId":"a"},{"instanceId":"b"}]}"#,
        );
        assert_eq!(accept(Api::Keel, &two, 2).unwrap(), vec!["a", "b"]);
        assert!(accept(Api::Keel, &two, 3).is_err());
        assert!(accept(Api::Keel, &answer(400, "{}"), 1).is_err());
        assert!(
            accept(Api::Nacos, &answer(200, "ok"), 1)
                .unwrap()
                .is_empty()
        );
        assert!(accept(Api::Nacos, &answer(500, "no"), 1).is_err());
    }
}
