//! CPU time and memory of a process and its descendants, from /proc (Linux).
//!
//! A sample covers the process and every process below it, summed: the generator with its
//! worker processes (`--workers`), the baseline broadcaster with its peer processes
//! (`--processes`). A Longhall server is one process (it starts a child only for compliance
//! stylesheets, which then counts too). The peak (VmHWM) is the sum of each process's own peak.

use serde::Serialize;

/// Clock ticks per second of /proc/<pid>/stat times. `sysconf(_SC_CLK_TCK)` needs libc (and
/// unsafe code); it is 100 on every Linux architecture Longhall runs on.
const CLK_TCK: f64 = 100.0;

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub cpu_s: f64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// Which process: `None` is this one. The figures are summed over the process and its
/// descendants that are alive at the time of the sample.
pub fn sample(pid: Option<u32>) -> Option<Sample> {
    let root = pid.unwrap_or_else(std::process::id);
    let mut total = sample_one(root)?;
    let mut seen = vec![root];
    let mut todo = children(root);
    while let Some(p) = todo.pop() {
        if seen.contains(&p) || seen.len() > 10_000 {
            continue;
        }
        seen.push(p);
        if let Some(s) = sample_one(p) {
            total.cpu_s += s.cpu_s;
            total.rss_kib += s.rss_kib;
            total.hwm_kib += s.hwm_kib;
            todo.extend(children(p));
        }
    }
    Some(total)
}

/// The fields of /proc/<pid>/stat after the command name (which may contain spaces and
/// parentheses: the fields start after the last ')'). Index 1 is the parent's pid.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat[stat.rfind(')')? + 1..].split_whitespace().map(str::to_owned).collect())
}

/// The children of a process: from /proc/<pid>/task/*/children, or where the kernel does not
/// offer that file, by the parent pid of every process.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut listed = false;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(task.path().join("children")) {
                listed = true;
                out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    if !listed && let Ok(all) = std::fs::read_dir("/proc") {
        for e in all.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if stat_fields(p).and_then(|f| f.get(1)?.parse::<u32>().ok()) == Some(pid) {
                out.push(p);
            }
        }
    }
    out
}

fn sample_one(pid: u32) -> Option<Sample> {
    let fields = stat_fields(pid)?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(Sample { cpu_s: (utime + stime) / CLK_TCK, rss_kib: kib("VmRSS:"), hwm_kib: kib("VmHWM:") })
}

/// A process's use during a phase.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    pub cpu_s: f64,
    /// CPU seconds per wall second (2.0 = two cores busy).
    pub cpu_cores: f64,
    pub rss_mib: f64,
    /// Peak resident memory since the process started (VmHWM).
    pub peak_rss_mib: f64,
}

pub fn usage(before: Option<Sample>, after: Option<Sample>, wall_s: f64) -> Option<Usage> {
    let (b, a) = (before?, after?);
    let cpu = (a.cpu_s - b.cpu_s).max(0.0);
    Some(Usage {
        cpu_s: round3(cpu),
        cpu_cores: round3(if wall_s > 0.0 { cpu / wall_s } else { 0.0 }),
        rss_mib: round3(a.rss_kib as f64 / 1024.0),
        peak_rss_mib: round3(a.hwm_kib as f64 / 1024.0),
    })
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let s = super::sample(None).expect("/proc/self is readable");
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib);
    }

    #[test]
    fn a_sample_includes_the_descendants() {
        use std::time::{Duration, Instant};
        // A shell waiting for its own child: two idle processes whose memory does not move.
        let mut sh = std::process::Command::new("sh").args(["-c", "sleep 30 & wait"]).spawn().expect("sh starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        let sleeper = loop {
            if let Some(&p) = super::children(sh.id()).first()
                && std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep")
            {
                break p;
            }
            assert!(Instant::now() < deadline, "the shell's child is not listed");
            std::thread::sleep(Duration::from_millis(10));
        };
        // A process that has only just started may still be faulting its pages in: take the
        // sum between two equal readings of each part.
        let (both, a, b) = loop {
            let before = (super::sample_one(sh.id()).unwrap(), super::sample_one(sleeper).unwrap());
            let both = super::sample(Some(sh.id())).unwrap();
            let after = (super::sample_one(sh.id()).unwrap(), super::sample_one(sleeper).unwrap());
            let same = |x: &super::Sample, y: &super::Sample| x.rss_kib == y.rss_kib && x.hwm_kib == y.hwm_kib;
            if same(&before.0, &after.0) && same(&before.1, &after.1) {
                break (both, after.0, after.1);
            }
            assert!(Instant::now() < deadline, "the two processes' memory never held still");
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = std::process::Command::new("kill").arg(sleeper.to_string()).status();
        let _ = sh.kill();
        let _ = sh.wait();
        assert!(b.rss_kib > 0);
        assert_eq!(both.rss_kib, a.rss_kib + b.rss_kib);
        assert_eq!(both.hwm_kib, a.hwm_kib + b.hwm_kib);
    }
}
