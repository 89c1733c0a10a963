//! `/metrics` read by a strict parser of the Prometheus text format, its figures checked against
//! a known workload, and two servers in one process counting separately.

use std::collections::BTreeMap;

use serde_json::json;

use super::harness::*;

/// A sample's name and labels, e.g. `("longhall_errors_total", "code=room_not_found")`.
type Key = (String, String);

/// Parses the text exposition format (0.0.4) strictly: every family has HELP and TYPE before its
/// samples, names and labels are well-formed, values are numbers, histograms are cumulative and
/// end with `+Inf` equal to their `_count`. Panics with the offending line otherwise.
fn parse(text: &str) -> BTreeMap<Key, f64> {
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
    };
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helped: Vec<String> = Vec::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            assert!(valid_name(name), "bad HELP line: {line}");
            assert!(!helped.contains(&name.to_owned()), "HELP twice: {line}");
            helped.push(name.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            assert!(
                valid_name(name) && ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad TYPE: {line}"
            );
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "TYPE twice: {line}");
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => {
                let l = l.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                let mut pairs = Vec::new();
                for pair in l.split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or_else(|| panic!("bad label: {line}"));
                    assert!(valid_name(k), "bad label name: {line}");
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("unquoted: {line}"));
                    assert!(!v.contains('"') && !v.contains('\\'), "escapes are not expected here: {line}");
                    pairs.push(format!("{k}={v}"));
                }
                (n, pairs.join(","))
            }
            None => (series, String::new()),
        };
        assert!(valid_name(name), "bad metric name: {line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.get(*f).is_some_and(|t| t == "histogram")))
            .unwrap_or(name);
        assert!(
            types.contains_key(family) && helped.contains(&family.to_owned()),
            "a sample before its HELP and TYPE: {line}"
        );
        assert!(samples.insert((name.to_owned(), labels), value).is_none(), "a sample twice: {line}");
    }
    for (family, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let mut last = 0.0;
        let mut bounds: Vec<(f64, f64)> = samples
            .iter()
            .filter(|((n, _), _)| n == &format!("{family}_bucket"))
            .map(|((_, l), v)| {
                let le = l.strip_prefix("le=").unwrap_or_else(|| panic!("{family}: a bucket without le"));
                (if le == "+Inf" { f64::INFINITY } else { le.parse().expect("le is a number") }, *v)
            })
            .collect();
        bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (le, n) in &bounds {
            assert!(*n >= last, "{family}: buckets are cumulative ({le}: {n} after {last})");
            last = *n;
        }
        assert_eq!(bounds.last().map(|b| b.0), Some(f64::INFINITY), "{family} ends with +Inf");
        let count = samples[&(format!("{family}_count"), String::new())];
        assert_eq!(last, count, "{family}: +Inf equals _count");
        assert!(samples.contains_key(&(format!("{family}_sum"), String::new())), "{family}_sum");
    }
    samples
}

async fn scrape(s: &TestServer) -> BTreeMap<Key, f64> {
    let resp = reqwest::get(s.url("/metrics")).await.expect("GET /metrics");
    assert_eq!(resp.status(), 200);
    let kind = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    parse(&resp.text().await.expect("the body"))
}

fn value(m: &BTreeMap<Key, f64>, name: &str, labels: &str) -> f64 {
    *m.get(&(name.to_owned(), labels.to_owned())).unwrap_or_else(|| panic!("no {name}{{{labels}}} in {m:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_known_workload_and_two_servers_count_apart() {
    let s = TestServer::start().await;
    let other = TestServer::start().await;
    let t = s.users(&["alice@example.org", "bob@example.org"]).await;
    let lobby = id_of(&s.get(&t[0], "/api/v1/rooms?q=Lobby").await.ok()["items"][0]);
    let mut alice = s.ws(&t[0]).await;
    let mut bob = s.ws(&t[1]).await;
    alice.join_ok(lobby).await;
    bob.join_ok(lobby).await;
    for i in 0..5 {
        alice.post_ok(lobby, &format!("counted {i}")).await;
    }
    for _ in 0..5 {
        bob.next_event("message").await;
    }
    // Three room_not_found answers: two over HTTP, one over the WebSocket.
    s.get(&t[0], "/api/v1/rooms/999999").await.err(404, "room_not_found");
    s.get(&t[1], "/api/v1/rooms/999998").await.err(404, "room_not_found");
    let answer = alice.request(json!({ "type": "history", "room": 999_999 })).await;
    assert_eq!(answer["code"], "room_not_found");

    let m = scrape(&s).await;
    assert_eq!(value(&m, "longhall_connections", ""), 2.0);
    assert_eq!(value(&m, "longhall_participants", ""), 2.0);
    assert_eq!(value(&m, "longhall_rooms_active", ""), 1.0);
    assert_eq!(value(&m, "longhall_posts_total", ""), 5.0);
    assert_eq!(value(&m, "longhall_deliveries_total", ""), 10.0, "5 messages to 2 joined connections");
    assert_eq!(value(&m, "longhall_delivery_latency_seconds_count", ""), 5.0);
    assert!(value(&m, "longhall_store_commit_seconds_count", "") >= 1.0);
    assert!(value(&m, "longhall_delivery_latency_seconds_sum", "") > 0.0);
    assert_eq!(value(&m, "longhall_errors_total", "code=room_not_found"), 3.0);
    assert_eq!(value(&m, "longhall_errors_total", "code=forbidden"), 0.0, "every code has its series");
    assert!(
        !m.contains_key(&("longhall_compliance_backlog_events".to_owned(), String::new())),
        "no backlog while compliance processing is off"
    );
    s.put(s.admin_token(), "/api/v1/admin/compliance/config", json!({ "enabled": true })).await.ok();
    let events = s.compliance_events().await.len() as f64;
    assert!(events >= 5.0, "at least the 5 posts are recorded");
    let m = scrape(&s).await;
    assert_eq!(value(&m, "longhall_compliance_backlog_events", ""), events, "nothing is processed yet");
    assert!(value(&m, "process_resident_memory_bytes", "") > 1e6);
    assert!(value(&m, "process_open_fds", "") > 0.0);

    // The other server in this process counted none of it.
    let o = scrape(&other).await;
    assert_eq!(value(&o, "longhall_posts_total", ""), 0.0);
    assert_eq!(value(&o, "longhall_connections", ""), 0.0);
    assert_eq!(value(&o, "longhall_errors_total", "code=room_not_found"), 0.0);

    // Leaving shows at once.
    alice.leave(lobby).await;
    let m = scrape(&s).await;
    assert_eq!(value(&m, "longhall_participants", ""), 1.0);
    assert_eq!(value(&m, "longhall_deliveries_total", ""), 10.0);
}
