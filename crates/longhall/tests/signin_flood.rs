//! A flood of sign-ins against the real binary: each password check needs ~19 MiB, so the
//! server must bound how many run at once, refuse the excess with `server_busy` and
//! `Retry-After`, keep its memory flat, and keep answering everyone else meanwhile.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde_json::{Value, json};
use support::{ADMIN, Server, data_dir};

/// Concurrent sign-in clients, each from its own loopback address (so the per-source limit is
/// not what stops them), each trying `TRIES` made-up logins.
const CLIENTS: u8 = 250;
const TRIES: usize = 3;

/// Kibibytes from /proc/<pid>/status, e.g. `VmHWM` (the peak resident set) or `VmRSS`.
fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading /proc/<pid>/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_flood_keeps_memory_flat_and_other_requests_answered() {
    let dir = data_dir();
    let password = "flood-admin-password";
    let server = Server::start_with(&dir.path, |cmd| {
        cmd.env("LONGHALL_ADMIN_PASSWORD", password);
    })
    .await;
    // One real sign-in first, so the server's own first password check is in the baseline.
    let admin = server.sign_in(ADMIN, password).await;
    let pid = server.proc.pid();
    let before_kib = proc_kib(pid, "VmRSS");

    let url = server.url("/api/v1/auth/sign-in");
    // Set once the server has turned a sign-in away: every check slot and queue place is taken.
    let (saturated, mut saw_saturation) = tokio::sync::watch::channel(false);
    let flood: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let url = url.clone();
            let saturated = saturated.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, i)))
                    .timeout(Duration::from_secs(60))
                    .build()
                    .expect("an HTTP client");
                let mut answers = Vec::new();
                for t in 0..TRIES {
                    let body =
                        json!({ "login": format!("nobody{i}-{t}@longhall.local"), "password": "not-a-password" });
                    let r = http.post(&url).json(&body).send().await.expect("a sign-in answer");
                    let status = r.status().as_u16();
                    let retry_after = r.headers().get("retry-after").is_some();
                    let code = r.json::<Value>().await.ok().and_then(|v| v["code"].as_str().map(str::to_owned));
                    if status == 503 {
                        saturated.send_replace(true);
                    }
                    answers.push((status, code.unwrap_or_default(), retry_after));
                }
                answers
            })
        })
        .collect();

    drop(saturated);
    // Once the password checks are saturated, an ordinary request is still answered (within the
    // support's step timeout).
    // (The guard `wait_for` returns is dropped at once: holding it would block the senders.)
    let saturated =
        matches!(tokio::time::timeout(Duration::from_secs(60), saw_saturation.wait_for(|s| *s)).await, Ok(Ok(_)));
    assert!(saturated, "the flood never saturated the password checks");
    let me = server.as_user(&admin).me().await.expect("an ordinary request during the flood");
    assert_eq!(me.user.login, ADMIN);

    let mut busy = 0;
    for task in flood {
        for (status, code, retry_after) in task.await.expect("a flood client") {
            match (status, code.as_str()) {
                (401, "invalid_credentials") => {}
                (503, "server_busy") | (429, "rate_limited") => {
                    assert!(retry_after, "{status} {code} without Retry-After");
                    busy += 1;
                }
                other => panic!("unexpected answer to a flooded sign-in: {other:?}"),
            }
        }
    }
    assert!(busy > 0, "no sign-in was turned away: the flood never reached the bound");

    // At most 8 checks run at once (each ~19 MiB of Argon2 memory, reused); allow that plus
    // generous room for request buffers. Unbounded, 250 concurrent checks would need ~4.7 GiB.
    let bound_kib = before_kib + 8 * 20 * 1024 + 100 * 1024;
    let peak_kib = proc_kib(pid, "VmHWM");
    let after_kib = proc_kib(pid, "VmRSS");
    eprintln!(
        "resident memory: before {before_kib} KiB, peak {peak_kib} KiB, after {after_kib} KiB; {busy} turned away"
    );
    assert!(
        peak_kib <= bound_kib,
        "peak resident memory {peak_kib} KiB exceeds {bound_kib} KiB (before: {before_kib})"
    );
    assert!(after_kib <= bound_kib, "resident memory after the flood {after_kib} KiB exceeds {bound_kib} KiB");

    // The server still signs in the administrator afterwards (from a source it has not refused).
    server.sign_in(ADMIN, password).await;
}
