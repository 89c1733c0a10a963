//! Whole-server integration tests: a real Longhall server on 127.0.0.1 over SQLite, driven
//! over HTTP and WebSocket exactly as a client would. One binary, one module per area; the
//! harness (server, HTTP and WebSocket clients) is in `server/harness.rs`.

mod server {
    pub mod harness;

    mod audit;
    mod auditorium;
    mod bad_input;
    mod compliance;
    mod delivery;
    mod exhaustion;
    mod files;
    mod following;
    mod groups;
    mod headers;
    mod history;
    mod kick;
    mod large;
    mod metrics;
    mod openapi;
    mod policy;
    mod privacy;
    mod restart;
    mod resume;
    mod search;
    mod sessions;
    mod status;
    mod strict;
    mod throttle;
    mod users;
    mod wall;
    mod wire;
}
