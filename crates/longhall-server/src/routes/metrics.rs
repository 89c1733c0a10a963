//! Prometheus metrics (`GET /metrics`, text exposition format 0.0.4): this server's own
//! counters, read from its `Longhall` (two servers in one process never share them), and the
//! process's CPU, memory and descriptors.

use std::fmt::Write;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use longhall_core::metrics::{HistogramSnapshot, Metrics};
use longhall_types::ErrorCode;

use crate::AppState;

/// Every series this server exposes, in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain", body = String, description = "Prometheus text format 0.0.4")))]
pub async fn metrics(State(s): State<AppState>) -> Response {
    let mut out = String::with_capacity(8 * 1024);
    let m = &s.lh.metrics;
    let (active_rooms, participants) = s.lh.hub.occupancy();
    gauge(&mut out, "longhall_connections", "Open WebSocket connections.", s.lh.hub.connection_count() as f64);
    gauge(
        &mut out,
        "longhall_participants",
        "Users joined to rooms (a user counted once per room).",
        participants as f64,
    );
    gauge(&mut out, "longhall_rooms_active", "Rooms with at least one joined user.", active_rooms as f64);
    counter(&mut out, "longhall_posts_total", "Messages committed (acknowledged posts).", Metrics::count(&m.posts));
    counter(
        &mut out,
        "longhall_deliveries_total",
        "Message frames queued for joined connections.",
        Metrics::count(&m.deliveries),
    );
    histogram(
        &mut out,
        "longhall_delivery_latency_seconds",
        "From a post's acceptance to its message queued for every joined connection (the commit included).",
        &m.delivery_latency.snapshot(),
    );
    histogram(
        &mut out,
        "longhall_store_commit_seconds",
        "One group commit of posts to the store (both files written and synced).",
        &m.commit_latency.snapshot(),
    );
    header_lines(
        &mut out,
        "longhall_errors_total",
        "Errors answered, by code (HTTP answers, WebSocket errors and closings).",
        "counter",
    );
    for (code, n) in m.errors() {
        let _ = writeln!(out, "longhall_errors_total{{code=\"{}\"}} {n}", code.as_str());
    }
    // Only while processing is on: with it off nothing is processed, the count only grows, and
    // counting a backlog that has grown for months on every scrape would cost real I/O.
    let backlog = match s.lh.compliance_config_or_default().await {
        Ok(c) if c.enabled => s.lh.compliance_backlog().await.map(Some),
        Ok(_) => Ok(None),
        Err(e) => Err(e),
    };
    match backlog {
        Ok(Some(waiting)) => gauge(
            &mut out,
            "longhall_compliance_backlog_events",
            "Compliance events recorded and not yet processed (present while processing is on).",
            waiting as f64,
        ),
        Ok(None) => {}
        Err(e) => tracing::debug!(error = %e, "metrics: the compliance backlog could not be read"),
    }
    match s.lh.last_compliance_run().await {
        Ok(last) => {
            let (finished, failed) = last
                .map(|r| (r.finished as f64 / 1000.0, f64::from(u8::from(r.error.is_some()))))
                .unwrap_or((0.0, 0.0));
            gauge(
                &mut out,
                "longhall_compliance_last_run_timestamp_seconds",
                "When the latest compliance processing run finished (0: none yet).",
                finished,
            );
            gauge(&mut out, "longhall_compliance_last_run_failed", "1 when the latest compliance run failed.", failed);
        }
        Err(e) => tracing::debug!(error = %e, "metrics: the compliance runs could not be read"),
    }
    process_metrics(&mut out);
    let mut resp = out.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    resp
}

/// Counts every error answer by its code (an `ApiError` marks its response with the code).
pub async fn count_errors(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if let Some(code) = resp.extensions().get::<ErrorCode>() {
        s.lh.metrics.error(*code);
    }
    resp
}

fn header_lines(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    header_lines(out, name, help, "gauge");
    let _ = writeln!(out, "{name} {value}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header_lines(out, name, help, "counter");
    let _ = writeln!(out, "{name} {value}");
}

fn histogram(out: &mut String, name: &str, help: &str, h: &HistogramSnapshot) {
    header_lines(out, name, help, "histogram");
    for (bound, n) in &h.buckets {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum {}", h.sum_seconds);
    let _ = writeln!(out, "{name}_count {}", h.count);
}

/// Linux's clock tick for `/proc/<pid>/stat` times (USER_HZ, 100 on every mainstream kernel).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// The process's own figures from `/proc/self` (absent where there is no `/proc`).
fn process_metrics(out: &mut String) {
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name (which may hold spaces) start at state, field 3.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            // utime and stime are fields 14 and 15, i.e. 11 and 12 after the state.
            let cpu = (ticks(11) + ticks(12)) / CLOCK_TICKS_PER_SECOND;
            header_lines(out, "process_cpu_seconds_total", "User and system CPU time spent, in seconds.", "counter");
            let _ = writeln!(out, "process_cpu_seconds_total {cpu}");
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
        if let Some(kib) = kib {
            gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.", kib * 1024.0);
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge(out, "process_open_fds", "Open file descriptors.", fds.count() as f64);
    }
}
