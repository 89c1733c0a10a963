//! The administrators' compliance API over real HTTP, on a server whose processor is
//! registered: configuration with its ranges, run now, the run history, stylesheet tests.

mod support;

use std::time::Duration;

use longhall_compliance::xslt::{XsltRunner, test_stylesheet};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::*;

struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    async fn call(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn ok(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, body) = self.call(method.clone(), path, token, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {body}");
        body
    }

    async fn err(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>, code: &str) -> String {
        let (status, answer) = self.call(method.clone(), path, token, body).await;
        assert_eq!(answer["code"], code, "{method} {path}: {status} {answer}");
        answer["message"].as_str().unwrap().to_owned()
    }

    async fn sign_in(&self, login: &str, password: &str) -> String {
        let r = self.client.post(format!("{}/api/v1/auth/sign-in", self.base));
        let v: Value =
            r.json(&json!({ "login": login, "password": password })).send().await.unwrap().json().await.unwrap();
        v["token"].as_str().unwrap_or_else(|| panic!("sign-in: {v}")).to_owned()
    }
}

async fn serve(
    w: &World,
    settings: longhall_compliance::processor::ProcessorSettings,
) -> (Http, std::sync::Arc<longhall_compliance::processor::Processor>) {
    let processor = w.processor_with(settings, None);
    assert!(processor.register());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(longhall_server::serve(listener, w.lh.clone(), std::future::pending()));
    (Http { base, client: reqwest::Client::builder().no_proxy().build().unwrap() }, processor)
}

const CONFIG: &str = "/api/v1/admin/compliance/config";
const RUN: &str = "/api/v1/admin/compliance/run";
const RUNS: &str = "/api/v1/admin/compliance/runs";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_configure_run_and_review_compliance() {
    use reqwest::Method;
    let w = bare_world().await;
    let (http, _processor) = serve(&w, w.settings("server-a")).await;
    let admin = http.sign_in(ADMIN, PASSWORD).await;
    http.ok(
        Method::POST,
        "/api/v1/admin/users",
        &admin,
        Some(json!({ "login": "carol@example.org", "password": PASSWORD })),
    )
    .await;
    let carol = http.sign_in("carol@example.org", PASSWORD).await;

    // The defaults.
    let defaults = http.ok(Method::GET, CONFIG, &admin, None).await;
    assert_eq!(
        defaults,
        json!({
            "enabled": false, "adapter": "xml", "output_dir": w.out.to_string_lossy(), "run_interval_secs": 900,
            "one_chat_room_per_output_file": false, "add_chat_room_details": false, "add_user_details": false,
            "create_file_attachments_manifest": false, "command": []
        })
    );
    // Administrators only.
    http.err(Method::GET, CONFIG, &carol, None, "admin_required").await;
    http.err(Method::PUT, CONFIG, &carol, Some(json!({ "enabled": true })), "admin_required").await;
    http.err(Method::POST, RUN, &carol, None, "admin_required").await;
    http.err(Method::GET, RUNS, &carol, None, "admin_required").await;
    // Off: nothing runs.
    let off = http.err(Method::POST, RUN, &admin, None, "compliance_disabled").await;
    assert!(off.contains("enabled"), "{off}");

    // Values outside their ranges are refused, and nothing is stored.
    for (body, what) in [
        (json!({ "run_interval_secs": 59 }), "run_interval_secs"),
        (json!({ "run_interval_secs": 2_592_001 }), "run_interval_secs"),
        (json!({ "adapter": "zip" }), "zip"),
        (json!({ "output_dir": "relative/folder" }), "absolute"),
        (json!({ "enabled": true, "adapter": "command" }), "program"),
    ] {
        let message = http.err(Method::PUT, CONFIG, &admin, Some(body.clone()), "invalid_value").await;
        assert!(message.contains(what), "{body}: {message}");
    }
    http.err(Method::PUT, CONFIG, &admin, Some(json!({ "enabled": "yes" })), "invalid_request").await;
    assert_eq!(http.ok(Method::GET, CONFIG, &admin, None).await, defaults);
    // The range ends are accepted.
    http.ok(Method::PUT, CONFIG, &admin, Some(json!({ "run_interval_secs": 2_592_000 }))).await;
    let on = http
        .ok(Method::PUT, CONFIG, &admin, Some(json!({ "enabled": true, "adapter": "jsonl", "run_interval_secs": 60 })))
        .await;
    assert_eq!(
        (on["enabled"].as_bool(), on["adapter"].as_str(), on["run_interval_secs"].as_u64()),
        (Some(true), Some("jsonl"), Some(60))
    );
    assert_eq!(http.ok(Method::GET, CONFIG, &admin, None).await, on, "stored");

    // Posts are recorded; "run now" processes them and answers what it did.
    let lobby = http.ok(Method::GET, "/api/v1/rooms?q=Lobby", &carol, None).await["items"][0]["id"].as_i64().unwrap();
    for text in ["first words", "second words", "third words"] {
        http.ok(Method::POST, &format!("/api/v1/rooms/{lobby}/messages"), &carol, Some(json!({ "text": text }))).await;
    }
    let report = http.ok(Method::POST, RUN, &admin, None).await;
    assert_eq!(report["error"], Value::Null, "{report}");
    assert_eq!((report["events"].as_u64(), report["files"].as_u64()), (Some(3), Some(1)), "{report}");
    let run = &report["runs"][0];
    assert_eq!(run["server"], "server-a");
    let contents: Vec<String> =
        w.published().into_values().flatten().map(|l| l["content"].as_str().unwrap().to_owned()).collect();
    assert_eq!(contents, ["first words", "second words", "third words"]);

    // Nothing waits: the next run says so.
    let again = http.ok(Method::POST, RUN, &admin, None).await;
    assert_eq!((again["events"].as_u64(), again["runs"].as_array().unwrap().len()), (Some(0), 1));

    // The history, newest first.
    let runs = http.ok(Method::GET, &format!("{RUNS}?limit=10"), &admin, None).await;
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0], again["runs"][0]);
    assert_eq!(&runs[1], run);
    assert_eq!((runs[1]["events"].as_u64(), runs[1]["files"].as_u64()), (Some(3), Some(1)));
    assert!(runs[1]["finished"].as_i64() >= runs[1]["started"].as_i64());

    // A failing run answers 200 with the error in its report; the events wait for the next.
    http.ok(Method::POST, &format!("/api/v1/rooms/{lobby}/messages"), &carol, Some(json!({ "text": "fourth" }))).await;
    w.probe.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = http.ok(Method::POST, RUN, &admin, None).await;
    assert!(failed["error"].as_str().unwrap().contains("refused"), "{failed}");
    assert_eq!(failed["events"], 0);
    w.probe.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(http.ok(Method::POST, RUN, &admin, None).await["events"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stylesheet_is_tried_on_sample_data() {
    use reqwest::Method;
    let w = bare_world().await;
    let mut settings = w.settings("server-a");
    let runner = XsltRunner::new(vec![env!("CARGO_BIN_EXE_longhall-xslt-worker").into()], Duration::from_secs(60));
    settings.stylesheet_tester =
        std::sync::Arc::new(move |text: &str| test_stylesheet(&runner, text).map_err(|e| e.to_string()));
    let (http, _processor) = serve(&w, settings).await;
    let admin = http.sign_in(ADMIN, PASSWORD).await;
    let path = "/api/v1/admin/compliance/test-stylesheet";

    let count = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text"/>
  <xsl:template match="/">conversations: <xsl:value-of select="count(//Conversation)"/></xsl:template>
</xsl:stylesheet>"#;
    let out = http.ok(Method::POST, path, &admin, Some(json!({ "stylesheet": count }))).await;
    let output = out["output"].as_str().unwrap();
    let n: u32 = output
        .trim()
        .strip_prefix("conversations: ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{output:?}"));
    assert!(n >= 1, "{output}");

    let broken = "<xsl:stylesheet version=\"1.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\">\n  <xsl:template match=\"/\">\n    <unclosed>\n  </xsl:template>\n</xsl:stylesheet>\n";
    let message = http.err(Method::POST, path, &admin, Some(json!({ "stylesheet": broken })), "invalid_value").await;
    assert!(message.contains("line"), "the error names the line: {message}");
    http.err(Method::POST, path, &admin, Some(json!({ "stylesheet": " " })), "invalid_value").await;
}

/// The readiness check of each check by name.
fn readiness_state(body: &Value, name: &str) -> String {
    let checks = body["checks"].as_array().unwrap_or_else(|| panic!("no checks in {body}"));
    let check = checks.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no {name} check in {body}"));
    check["state"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_once_the_compliance_processor_has_stopped() {
    let w = bare_world().await;
    let (http, processor) = serve(&w, w.settings("server-a")).await;
    let readyz = || async {
        let resp = http.client.get(format!("{}/readyz", http.base)).send().await.expect("/readyz answers");
        (resp.status(), resp.json::<Value>().await.expect("a JSON body"))
    };

    // Registered but its timer loop not started yet: not ready.
    let (status, body) = readyz().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(readiness_state(&body, "compliance_processor"), "failed", "{body}");

    let task = tokio::spawn(processor.clone().run());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (status, body) = readyz().await;
        if status == StatusCode::OK {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "never ready once the processor runs: {body}");
        tokio::task::yield_now().await;
    };
    assert_eq!(body["status"], "ready");
    for name in ["store", "poster", "compliance_processor"] {
        assert_eq!(readiness_state(&body, name), "ok", "{body}");
    }

    processor.stop();
    tokio::time::timeout(Duration::from_secs(10), task).await.expect("the loop ends after stop").unwrap();
    let (status, body) = readyz().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["code"], "not_ready", "a stopped task is not a store failure: {body}");
    assert!(body["message"].as_str().unwrap().contains("compliance_processor"), "{body}");
    assert_eq!(readiness_state(&body, "compliance_processor"), "failed", "{body}");
    assert_eq!(readiness_state(&body, "store"), "ok", "{body}");
    assert_eq!(readiness_state(&body, "poster"), "ok", "{body}");
}
