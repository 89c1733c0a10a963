//! Hot paths of the live hub (divan): encoding a message frame, fanning one message out to N
//! joined connections through `Hub::publish`, and the backchat snapshot a join takes from the
//! recent-message cache (`Hub::join`).
//!
//! `cargo bench -p longhall-core --bench hot_paths`

use std::cell::{Cell, RefCell};

use divan::Bencher;
use longhall_core::live::{Hub, Snapshot, Window, encode};
use longhall_types::api::{MessageView, Participant, SharedParticipant};
use longhall_types::ws::ServerFrame;

fn main() {
    divan::main();
}

fn message(room: i64, seq: i64) -> MessageView {
    MessageView {
        room,
        seq,
        ts: 1_795_298_240_221 + seq,
        author: "alice.trader@example.org".into(),
        author_name: "Alice Trader".into(),
        text: format!("~{seq}.1795298240~ market gilts deploy latency rollout risk 東京 会議"),
        alert: false,
        story_title: None,
        file: None,
        replaced: false,
    }
}

fn who(i: usize) -> SharedParticipant {
    Participant { login: format!("user{i}@example.org"), display_name: format!("User {i}") }.into()
}

/// Serialising one `message` frame (done once per post, shared by every recipient).
#[divan::bench]
fn encode_message_frame(b: Bencher<'_, '_>) {
    let frame = ServerFrame::Message(message(1, 42));
    b.bench(|| encode(divan::black_box(&frame)));
}

/// One message to N joined connections: encode once, queue the shared bytes on each
/// connection, keep it in the room's cache. The queues are drained between samples (untimed).
#[divan::bench(args = [100, 1_000, 16_000], sample_count = 100, sample_size = 32)]
fn publish_fan_out(b: Bencher<'_, '_>, n: usize) {
    let hub = Hub::new([(1, 0)], 30, 75);
    hub.fill_cache(1, vec![], true);
    let mut conns = Vec::with_capacity(n);
    let mut queues = Vec::with_capacity(n);
    for i in 0..n {
        let (c, rx) = hub.connect(i as i64, 4096);
        hub.join(&c, 1, who(i), Window::Latest(30));
        hub.activate(&c, 1);
        conns.push(c);
        queues.push(rx);
    }
    let queues = RefCell::new(queues);
    let seq = Cell::new(0);
    b.with_inputs(|| {
        for q in queues.borrow_mut().iter_mut() {
            while q.try_recv().is_ok() {}
        }
        seq.set(seq.get() + 1);
        message(1, seq.get())
    })
    .bench_local_values(|m| hub.publish(m, true));
    assert!(conns.iter().all(|c| !c.is_closing()), "no connection overflowed its queue");
}

/// A join's backchat snapshot from the cache (the latest `n` of a room whose cache holds `n`),
/// with the pending registration and its activation: what a join costs the hub.
#[divan::bench(args = [30, 100, 500])]
fn backchat_snapshot_on_join(b: Bencher<'_, '_>, n: u32) {
    let hub = Hub::new([(1, 0)], n, 75);
    hub.fill_cache(1, (1..=n as i64).map(|s| message(1, s)).collect(), true);
    // A room with a few dozen participants, as a typical small room has.
    let others: Vec<_> = (0..40)
        .map(|i| {
            let (c, rx) = hub.connect(1000 + i, 4096);
            hub.join(&c, 1, who(1000 + i as usize), Window::Latest(1));
            hub.activate(&c, 1);
            (c, rx)
        })
        .collect();
    let (me, _rx) = hub.connect(1, 1 << 20);
    b.bench_local(|| {
        let out = hub.join(&me, 1, who(1), Window::Latest(n)).expect("the room exists");
        hub.activate(&me, 1);
        match out.snapshot {
            Snapshot::Ready { messages, .. } => messages.len(),
            Snapshot::FromStore { .. } => panic!("the cache should serve the backchat"),
        }
    });
    drop(others);
}
