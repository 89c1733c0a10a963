//! The service files in `deploy/` run this binary as they say: `deploy/check` verifies the
//! systemd unit (with `systemd-analyze verify` when installed) and the Containerfile, runs the
//! command line each contains until `/readyz` answers 200, and stops it with its stop signal,
//! requiring exit 0 within the stop timeout.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::Proc;

#[tokio::test(flavor = "multi_thread")]
async fn the_service_files_start_and_stop_the_server() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut cmd = Command::new("bash");
    cmd.arg(format!("{root}/deploy/check"))
        .arg(env!("CARGO_BIN_EXE_longhall"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LONGHALL_") {
            cmd.env_remove(key);
        }
    }
    let mut check = Proc::spawn(cmd);
    // Two starts and two stops, each bounded inside the script (30 s ready, 45 s stop).
    let status = check.wait_exit(Duration::from_secs(180)).await;
    let said = check.output();
    assert!(status.success(), "deploy/check failed:\n{said}");
    assert!(said.contains("unit: ") && said.contains("containerfile: "), "both files were checked:\n{said}");
    assert_eq!(said.matches("/readyz answered 200").count() + said.matches("HEALTHCHECK (").count(), 2, "{said}");
    assert_eq!(said.matches("stopped with exit 0 after SIGTERM").count(), 2, "{said}");
    assert!(
        said.contains("systemd-analyze verify: no findings") || said.contains("NOTE: systemd-analyze is not installed")
    );
}
