//! CPU time and memory of a process, from /proc (Linux).

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

/// Which process: `None` is this one.
pub fn sample(pid: Option<u32>) -> Option<Sample> {
    let base = match pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".to_owned(),
    };
    let stat = std::fs::read_to_string(format!("{base}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("{base}/status")).ok()?;
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
}
