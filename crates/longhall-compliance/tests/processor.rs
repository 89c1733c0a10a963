//! The processing cycle over a real SQLite store and real files: exactly-once publication with a
//! crash injected at each step, failures that mark nothing, backlogs in capped batches, the
//! lease, and names resolved at processing time.

mod support;

use std::sync::atomic::Ordering;

use longhall_compliance::processor::Step;
use longhall_core::Actor;
use longhall_core::model::{ComplianceEvent, ComplianceKind};
use longhall_core::ports::Clock;
use longhall_types::ErrorCode;
use longhall_types::api::{ComplianceConfigPut, NewGroup, UserUpdate};
use serde_json::json;
use support::*;

/// Crashes a processor at `step` in the middle of publishing a batch of three rooms (three
/// files), records more events, lets another server take over once the dead one's lease has
/// run out, and checks that every event was published exactly once.
async fn crash_then_recover(step: Step) {
    let w = world().await;
    w.configure(ComplianceConfigPut { one_chat_room_per_output_file: Some(true), ..Default::default() }).await;
    let mut want = w.record(30).await;

    let dead = w.processor_with(w.settings("server-a"), Some(step));
    let err = dead.run_cycle().await.expect_err("the processor 'dies'");
    assert_eq!(err.code, ErrorCode::Internal, "{err}");
    let state = w.store.compliance_state().await.unwrap();
    assert_eq!(state.lease.as_ref().map(|l| l.holder.as_str()), Some("server-a"), "a dead server keeps its lease");
    let intent_expected = matches!(step, Step::AfterIntent | Step::BetweenRenames | Step::AfterRenames);
    assert_eq!(state.intent.is_some(), intent_expected, "intent after {step:?}");
    if step == Step::BetweenRenames {
        assert_eq!(w.published().len(), 1, "one of three files was renamed before the crash");
    }

    // Events keep arriving while the dead server's lease runs.
    want.extend(w.record(5).await);
    let next = w.processor("server-b");
    let busy = next.run_cycle().await.expect_err("the lease is still held");
    assert_eq!(busy.code, ErrorCode::InUse);
    assert!(busy.message.contains("server-a"), "{}", busy.message);

    w.clock.advance(LEASE_MS);
    let runs = next.run_cycle().await.expect("the next server takes over");
    assert!(runs.iter().all(|r| r.error.is_none()), "{runs:?}");
    assert_exactly_once(&w.published_ids(), &want);
    assert!(w.temporaries().is_empty(), "temporary files left: {:?}", w.temporaries());

    let state = w.store.compliance_state().await.unwrap();
    assert_eq!(state.watermark, *want.last().unwrap());
    assert_eq!((state.intent, state.lease), (None, None), "nothing pending, the lease given back");
    // A batch published before the crash is completed, never handed to the adapter again.
    assert_eq!(runs.first().unwrap().recovered, intent_expected, "{runs:?}");
    assert_eq!(runs.iter().map(|r| r.events).sum::<u64>(), if step == Step::AfterCommit { 5 } else { 35 });
    // And a further run has nothing left to do.
    let again = next.run_cycle().await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].events, again[0].files), (0, 0));
    assert_exactly_once(&w.published_ids(), &want);
    // Processed events are pruned from the compliance store.
    assert!(w.store.compliance_events(0, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_translate_before_fsync() {
    crash_then_recover(Step::AfterTranslate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_fsync_before_intent() {
    crash_then_recover(Step::AfterFsync).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_intent_before_any_rename() {
    crash_then_recover(Step::AfterIntent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_renames() {
    crash_then_recover(Step::BetweenRenames).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_renames_before_commit() {
    crash_then_recover(Step::AfterRenames).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_during_commit_after_it_went_through() {
    crash_then_recover(Step::AfterCommit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_lost_under_both_names_republishes_the_same_batch() {
    let w = world().await;
    w.configure(ComplianceConfigPut { one_chat_room_per_output_file: Some(true), ..Default::default() }).await;
    let want = w.record(12).await;
    let dead = w.processor_with(w.settings("server-a"), Some(Step::BetweenRenames));
    dead.run_cycle().await.expect_err("dies between renames");
    let intent = w.store.compliance_state().await.unwrap().intent.expect("an intent");
    // Someone removes a temporary file by hand.
    std::fs::remove_file(&intent.files[2].temp).unwrap();

    w.clock.advance(LEASE_MS);
    let runs = w.processor("server-b").run_cycle().await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].batch_id.as_deref(), Some(intent.batch_id.as_str()), "the same batch, same names");
    assert_exactly_once(&w.published_ids(), &want);
    assert_eq!(w.published().len(), 3, "the republished files replaced the ones already renamed");
    assert!(w.temporaries().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_delivery_is_at_least_once() {
    let w = world().await;
    w.configure(ComplianceConfigPut {
        adapter: Some("command".into()),
        command: Some(vec!["/bin/true".into()]),
        ..Default::default()
    })
    .await;
    let want = w.record(8).await;
    // Delivered, then the process died before the commit: the batch is delivered again.
    let dead = w.processor_with(w.settings("server-a"), Some(Step::AfterFsync));
    dead.run_cycle().await.expect_err("dies");
    w.clock.advance(LEASE_MS);
    w.processor("server-b").run_cycle().await.unwrap();
    let mut delivered = w.probe.delivered.lock().unwrap().clone();
    delivered.sort();
    let mut twice: Vec<i64> = want.iter().flat_map(|id| [*id, *id]).collect();
    twice.sort();
    assert_eq!(delivered, twice, "every event delivered, the interrupted batch twice");
    assert_eq!(w.store.compliance_state().await.unwrap().watermark, *want.last().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_marks_nothing_and_is_retried() {
    let w = world().await;
    let want = w.record(9).await;
    let p = w.processor("server-a");
    w.probe.fail.store(true, Ordering::SeqCst);
    let runs = p.run_cycle().await.expect("the cycle ran");
    assert_eq!(runs.len(), 1);
    let error = runs[0].error.as_deref().expect("the run failed");
    assert!(error.contains("the archive refused the batch"), "{error}");
    assert_eq!((runs[0].first_event, runs[0].last_event), (Some(want[0]), Some(*want.last().unwrap())));
    assert!(w.published().is_empty() && w.temporaries().is_empty(), "nothing published, nothing left behind");
    assert_eq!(w.store.compliance_state().await.unwrap().watermark, 0);
    assert_eq!(w.store.compliance_events(0, 100).await.unwrap().len(), 9, "the events wait");
    let listed = w.lh.compliance_runs(&Actor::system(), 10).await.unwrap();
    assert_eq!(listed[0].error.as_deref(), Some(error), "the run history shows the error");

    w.probe.fail.store(false, Ordering::SeqCst);
    let runs = p.run_cycle().await.unwrap();
    assert_eq!((runs.len(), runs[0].events, runs[0].error.as_deref()), (1, 9, None));
    assert_exactly_once(&w.published_ids(), &want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_that_stops_reading_early_fails_its_batch() {
    let w = world().await;
    w.record(6).await;
    w.probe.stop_early.store(true, Ordering::SeqCst);
    let runs = w.processor("server-a").run_cycle().await.unwrap();
    let error = runs[0].error.as_deref().expect("failed");
    assert!(error.contains("stopped after"), "{error}");
    assert!(w.published().is_empty() && w.temporaries().is_empty());
    assert_eq!(w.store.compliance_state().await.unwrap().watermark, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_processed_in_capped_batches_in_one_cycle() {
    let w = world().await;
    let want = w.record(10).await;
    let mut settings = w.settings("server-a");
    settings.max_batch_events = 4;
    let runs = w.processor_with(settings, None).run_cycle().await.unwrap();
    let sizes: Vec<u64> = runs.iter().map(|r| r.events).collect();
    assert_eq!(sizes, vec![4, 4, 2]);
    assert!(runs.windows(2).all(|p| p[0].last_event.unwrap() < p[1].first_event.unwrap()), "batches in order");
    let files = w.published();
    assert_eq!(files.len(), 3, "one file per batch: {:?}", files.keys());
    let names: Vec<&String> = files.keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_exactly_once(&w.published_ids(), &want);
    // Each batch's file: conversations by room, events by id, the first of each marked.
    for lines in files.values() {
        let keys: Vec<(i64, i64)> =
            lines.iter().map(|l| (l["room"].as_i64().unwrap(), l["event"].as_i64().unwrap())).collect();
        let mut ordered = keys.clone();
        ordered.sort();
        assert_eq!(keys, ordered);
        for (i, l) in lines.iter().enumerate() {
            let starts = i == 0 || lines[i - 1]["room"] != l["room"];
            assert_eq!(l["is_first"], json!(starts), "{l}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_flows_through_a_small_feed() {
    let w = world().await;
    let want = w.record(5_000).await;
    let mut settings = w.settings("server-a");
    settings.page_events = 7;
    settings.feed_chunks = 1;
    let runs = w.processor_with(settings, None).run_cycle().await.unwrap();
    assert_eq!(runs.iter().map(|r| r.events).sum::<u64>(), 5_000);
    let ids = w.published_ids();
    assert_exactly_once(&ids, &want);
    let firsts = w.published().values().flatten().filter(|l| l["is_first"] == json!(true)).count();
    assert_eq!(firsts, 3, "one conversation per room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_at_a_time() {
    let w = world().await;
    w.record(3).await;
    let now = w.clock.now_ms();
    assert!(w.store.acquire_compliance_lease("elsewhere", now, LEASE_MS).await.unwrap());
    let p = w.processor("server-a");
    assert_eq!(p.run_cycle().await.unwrap_err().code, ErrorCode::InUse);
    assert!(w.published().is_empty());
    w.store.release_compliance_lease("elsewhere").await.unwrap();
    assert_eq!(p.run_cycle().await.unwrap()[0].events, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processing_off_runs_nothing() {
    let w = world().await;
    w.record(3).await;
    w.configure(ComplianceConfigPut { enabled: Some(false), ..Default::default() }).await;
    let err = w.processor("server-a").run_cycle().await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ComplianceDisabled);
    assert!(w.published().is_empty());
    assert!(w.store.compliance_runs(10).await.unwrap().is_empty(), "no run is recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_resolved_when_processing_and_snapshots_stand_in_for_the_gone() {
    let w = world().await;
    let system = Actor::system();
    w.lh.create_group(&system, NewGroup { name: "traders".into(), members: vec!["user:alice@example.org".into()] })
        .await
        .unwrap();
    w.lh.create_group(&system, NewGroup { name: "desk".into(), members: vec!["group:traders".into()] }).await.unwrap();
    let (alice, alpha, beta) = (w.users[0], w.rooms[0], w.rooms[1]);
    let gone_user = w.users[1] + 1000;
    let events: Vec<ComplianceEvent> = vec![
        chat(alpha, alice, "before the rename", 1),
        chat(beta, gone_user, "from someone who is gone", 2),
        ComplianceEvent {
            kind: ComplianceKind::Backchat,
            detail: json!({ "from_seq": 3, "to_seq": 7, "count": 5, "via": "join" }),
            ..chat(alpha, alice, "", 3)
        },
    ];
    w.record_events(events).await;
    // Changes between recording and processing: processing shows the directory as it is then.
    w.lh.update_user(
        &system,
        "alice@example.org",
        UserUpdate { display_name: Some("Alice Renamed".into()), ..Default::default() },
    )
    .await
    .unwrap();
    w.lh.delete_room(&system, beta).await.unwrap();

    w.processor("server-a").run_cycle().await.unwrap();
    let lines: Vec<_> = w.published().into_values().flatten().collect();
    let by_content = |c: &str| lines.iter().find(|l| l["content"] == c).unwrap_or_else(|| panic!("{c}: {lines:?}"));
    let a = by_content("before the rename");
    assert_eq!(a["display_name"], "Alice Renamed");
    assert_eq!(a["login"], "alice@example.org");
    assert_eq!(a["groups"], json!(["desk", "traders"]), "groups, transitively");
    assert_eq!((a["room_name"].as_str(), a["category"].as_str()), (Some("Alpha"), Some("General")));
    assert_eq!(a["room_uri"], format!("ma-chan://example.org/{alpha}"));
    let b = by_content("from someone who is gone");
    assert_eq!(b["login"], format!("user{gone_user}@recorded.example.org"), "the login snapshot");
    assert_eq!(b["room_name"], format!("room {beta} when recorded"), "the room-name snapshot");
    let backchat = lines.iter().find(|l| l["kind"] == "BACKCHAT").unwrap();
    assert_eq!(backchat["content"], "5 message(s), 3 to 7, via join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timer_runs_when_an_interval_has_passed_and_stops_on_request() {
    let w = world().await;
    let want = w.record(4).await;
    let p = w.processor("server-a");
    assert!(p.register());
    let timer = tokio::spawn(p.clone().run());
    // An interval later (by the clock), a configuration change wakes the timer: the run is due.
    w.clock.advance(900 * 1000);
    w.configure(ComplianceConfigPut { add_user_details: Some(true), ..Default::default() }).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while w.store.compliance_runs(1).await.unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no run happened");
        tokio::task::yield_now().await;
    }
    assert_exactly_once(&w.published_ids(), &want);
    p.stop();
    tokio::time::timeout(std::time::Duration::from_secs(10), timer).await.expect("the timer ends").unwrap();
    assert_eq!(p.run_cycle().await.unwrap_err().code, ErrorCode::ShuttingDown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xslt_work_folders_left_by_a_crash_are_removed_at_the_next_cycle() {
    let w = world().await;
    let want = w.record(4).await;
    // The raw XML of a batch whose stylesheet run was interrupted by a crash.
    let work = w.out.join(".xslt-work-AbC123");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("00000000000000000001-00000000000000000004.xml"), "<raw/>").unwrap();
    std::fs::write(work.join("worker.pid"), "999999999").unwrap();
    let runs = w.processor("server-a").run_cycle().await.unwrap();
    assert!(runs.iter().all(|r| r.error.is_none()), "{runs:?}");
    assert!(!work.exists(), "the work folder is still there");
    assert_exactly_once(&w.published_ids(), &want);
}

/// After a crash with a publishing intent (or after the commit, before pruning), the events of
/// that batch are published: the administrator's listing of waiting events doesn't show them.
async fn waiting_events_after_a_crash_at(step: Step) {
    let w = world().await;
    w.configure(ComplianceConfigPut { one_chat_room_per_output_file: Some(true), ..Default::default() }).await;
    let published = w.record(6).await;
    let dead = w.processor_with(w.settings("server-a"), Some(step));
    dead.run_cycle().await.expect_err("the processor 'dies'");
    assert_eq!(w.published_ids().len(), 6, "the batch's files are published");
    let waiting = w.record(2).await;
    let listed: Vec<i64> =
        w.lh.compliance_events(&Actor::system(), 0, 100).await.unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(listed, waiting, "published events {published:?} are not waiting");
    // Paging from inside the published batch doesn't show them either.
    let listed: Vec<i64> =
        w.lh.compliance_events(&Actor::system(), published[2], 100).await.unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(listed, waiting);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_events_exclude_a_batch_published_before_a_crash() {
    waiting_events_after_a_crash_at(Step::AfterRenames).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_events_exclude_a_batch_committed_before_a_crash() {
    waiting_events_after_a_crash_at(Step::AfterCommit).await;
}

/// The original's format: BACKCHAT `content` is the history that was returned (recorded by the
/// core when it was read), file events' `content` the stored file name, `UserName` the display
/// name and `email` always there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_holds_the_backchat_returned_and_stored_file_names() {
    let w = bare_world().await;
    w.configure(ComplianceConfigPut { enabled: Some(true), adapter: Some("xml".into()), ..Default::default() }).await;
    let (token, _) = w.lh.sign_in(ADMIN, PASSWORD, std::net::Ipv4Addr::LOCALHOST.into()).await.unwrap();
    let admin = w.lh.authenticate(&token).await.unwrap();
    let alpha = w.rooms[0];
    for text in ["first <words>", "second\nline"] {
        let req = longhall_types::api::PostRequest { text: text.into(), ..Default::default() };
        w.lh.post(&admin, alpha, req, None).await.unwrap();
    }
    w.lh.history(&admin, alpha, longhall_core::service::HistoryQuery::Latest, None).await.unwrap();
    w.record_events(vec![ComplianceEvent {
        kind: ComplianceKind::FileUpload,
        detail: json!({ "file_id": 999, "name": "Q1 Report.PDF", "key": "k3Y", "size": 3, "content_type": "application/pdf" }),
        ..chat(alpha, w.users[0], "", 5)
    }])
    .await;

    // The built-in adapters (the real XML writer).
    let mut settings = w.settings("server-a");
    settings.adapters = std::sync::Arc::new(longhall_compliance::adapters::build);
    let runs = w.processor_with(settings, None).run_cycle().await.unwrap();
    assert!(runs.iter().all(|r| r.error.is_none()), "{runs:?}");
    let xml: String =
        std::fs::read_dir(&w.out).unwrap().flatten().map(|e| std::fs::read_to_string(e.path()).unwrap()).collect();
    let doc = longhall_compliance::xslt::parse_xml(xml.as_bytes()).unwrap();
    let messages: Vec<_> =
        doc.elements_named("Conversation").flat_map(|c| c.child("Messages").unwrap().elements()).collect();
    let backchat = messages.iter().find(|m| m.attr("type") == Some("BACKCHAT")).expect("a BACKCHAT event");
    assert_eq!(
        backchat.attr("content"),
        Some("[1] admin@example.org: first <words>\n[2] admin@example.org: second\nline")
    );
    let upload = messages.iter().find(|m| m.attr("type") == Some("FILEUPLOAD")).expect("a FILEUPLOAD event");
    assert_eq!(upload.attr("content"), Some("k3Y.pdf"), "the stored name, as <GUID>.<ext> in the original");
    assert_eq!(upload.attr("fileName"), Some("Q1 Report.PDF"), "the user's name, as an addition");
    let sender = upload.child("Sender").unwrap();
    assert_eq!(sender.attr("UserName"), Some("alice Example"), "the display name");
    assert_eq!(sender.attr("email"), Some("alice@example.org"));
    assert_eq!(sender.attr("uri"), Some("alice@example.org"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_backchat_is_recorded_up_to_its_bound_and_the_rest_counted() {
    let w = bare_world().await;
    w.configure(ComplianceConfigPut { enabled: Some(true), ..Default::default() }).await;
    let (token, _) = w.lh.sign_in(ADMIN, PASSWORD, std::net::Ipv4Addr::LOCALHOST.into()).await.unwrap();
    let admin = w.lh.authenticate(&token).await.unwrap();
    let alpha = w.rooms[0];
    let long = "x".repeat(longhall_types::limits::MAX_MESSAGE_BYTES);
    // More text than the bound.
    let n = longhall_types::limits::MAX_BACKCHAT_RECORD_BYTES / long.len() + 2;
    for _ in 0..n {
        let req = longhall_types::api::PostRequest { text: long.clone(), ..Default::default() };
        w.lh.post(&admin, alpha, req, None).await.unwrap();
    }
    let page = w.lh.history(&admin, alpha, longhall_core::service::HistoryQuery::Latest, Some(n as u32)).await.unwrap();
    assert_eq!(page.messages.len(), n);
    let events = w.lh.compliance_events(&Actor::system(), 0, 500).await.unwrap();
    let backchat = events.iter().find(|e| e.kind == "BACKCHAT").expect("recorded");
    let kept = backchat.detail["history"].as_array().unwrap().len();
    assert!(kept < n && kept > 0, "{kept} of {n}");
    assert_eq!(backchat.detail["history_omitted"], json!(n - kept));
    let bytes: usize = backchat.detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().len() + m["author"].as_str().unwrap().len())
        .sum();
    assert!(bytes <= longhall_types::limits::MAX_BACKCHAT_RECORD_BYTES);
}
