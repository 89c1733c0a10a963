//! XSLT 1.0 post-processing with libxslt, run in a worker subprocess.
//!
//! Stylesheets are untrusted code. Each transformation runs in a fresh worker process
//! ([`worker::run_worker`]; the `longhall` binary's hidden `xslt-worker` subcommand, or this
//! crate's `longhall-xslt-worker` binary in tests) that:
//! - may read only files inside the stylesheet's own folder (a private temporary folder that
//!   holds nothing but the stylesheet), through libxslt's READ_FILE security check, a wrapped
//!   document loader and libxml2's external entity loader;
//! - may not write files, create directories or use the network (libxslt security prefs
//!   forbid WRITE_FILE, CREATE_DIRECTORY, READ_NETWORK, WRITE_NETWORK; the parser runs with
//!   XML_PARSE_NONET and loads no external DTD or entity);
//! - is killed (its whole process group) when it runs longer than the runner's timeout, and
//!   stops by itself at that limit too (`--time-limit-ms`) or as soon as its parent dies (its
//!   stdin, a pipe the parent holds open, reaches end of file), so a server killed by SIGKILL
//!   leaves no worker running. The XML adapter records the worker's pid in its work folder
//!   ([`WORKER_PID_FILE`]); the next cycle stops any worker still named there
//!   ([`stop_stale_worker`]) before removing the folder.
//!
//! The parent side is [`XsltRunner`]. Output is serialised by libxslt as `<xsl:output>` asks
//! (method xml/html/text, encoding, indent), exactly as `xsltproc` does.

#[allow(unsafe_code)]
mod ffi;

#[allow(unsafe_code)]
pub(crate) mod engine;

pub mod worker;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use engine::{XmlElement, XmlNode, XmlParseError, parse_xml};
pub use worker::{run_worker, run_worker_args};

use crate::process;
use crate::xml::XmlOptions;

/// The default time limit of one worker run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum XsltError {
    /// The stylesheet doesn't compile: not well-formed, not XSLT 1.0, or an import refused.
    #[error("the stylesheet is broken{}: {message}", at_line(.line))]
    Stylesheet { line: Option<u32>, message: String },
    /// The transformation failed: a runtime error, a refused read or write, `xsl:message
    /// terminate="yes"`.
    #[error("the stylesheet failed{}: {message}", at_line(.line))]
    Transform { line: Option<u32>, message: String },
    /// The input document couldn't be parsed.
    #[error("the XSLT input could not be read: {0}")]
    Input(String),
    /// The result couldn't be written.
    #[error("the XSLT result could not be written: {0}")]
    Output(String),
    #[error("the stylesheet ran longer than {seconds:.1} s and was stopped (worker process {pid} killed)")]
    Timeout { seconds: f64, pid: u32 },
    /// The worker couldn't be started, or died abnormally.
    #[error("the XSLT worker failed: {0}")]
    Worker(String),
    #[error("XSLT: {0}")]
    Io(#[from] std::io::Error),
}

fn at_line(line: &Option<u32>) -> String {
    match line {
        Some(l) => format!(" at line {l}"),
        None => String::new(),
    }
}

impl XsltError {
    /// A stable code for APIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            XsltError::Stylesheet { .. } => "xslt_stylesheet",
            XsltError::Transform { .. } => "xslt_transform",
            XsltError::Input(_) => "xslt_input",
            XsltError::Output(_) => "xslt_output",
            XsltError::Timeout { .. } => "xslt_timeout",
            XsltError::Worker(_) => "xslt_worker",
            XsltError::Io(_) => "xslt_io",
        }
    }

    /// The stylesheet line the error names, when it names one.
    pub fn line(&self) -> Option<u32> {
        match self {
            XsltError::Stylesheet { line, .. } | XsltError::Transform { line, .. } => *line,
            _ => None,
        }
    }
}

/// Runs stylesheets in worker processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XsltRunner {
    /// The worker program and its leading arguments, e.g. `["/usr/bin/longhall", "xslt-worker"]`.
    pub worker: Vec<String>,
    /// Wall-clock limit of one worker run (all the files of one batch).
    pub timeout: Duration,
}

/// The name the stylesheet gets in its private folder (and in error messages).
pub const STYLESHEET_FILE: &str = "stylesheet.xsl";

impl XsltRunner {
    pub fn new(worker: Vec<String>, timeout: Duration) -> XsltRunner {
        XsltRunner { worker, timeout }
    }

    /// The running program's own `xslt-worker` subcommand (the `longhall` binary).
    pub fn current_exe(timeout: Duration) -> std::io::Result<XsltRunner> {
        let exe = std::env::current_exe()?;
        Ok(XsltRunner { worker: vec![exe.to_string_lossy().into_owned(), "xslt-worker".into()], timeout })
    }

    /// Transforms `input` into `output` (created or truncated).
    pub fn transform(&self, stylesheet: &str, input: &Path, output: &Path) -> Result<(), XsltError> {
        self.transform_all(stylesheet, &[(input.to_path_buf(), output.to_path_buf())])
    }

    /// Transforms each `(input, output)` pair with one worker run (one compilation, one time
    /// limit for all).
    pub fn transform_all(&self, stylesheet: &str, jobs: &[(PathBuf, PathBuf)]) -> Result<(), XsltError> {
        self.transform_all_recorded(stylesheet, jobs, None)
    }

    /// Same, with the worker's pid written to `pid_file` while it runs, so that a later
    /// start can stop a worker this process left behind ([`stop_stale_worker`]).
    pub fn transform_all_recorded(
        &self,
        stylesheet: &str,
        jobs: &[(PathBuf, PathBuf)],
        pid_file: Option<&Path>,
    ) -> Result<(), XsltError> {
        let Some((program, leading)) = self.worker.split_first() else {
            return Err(XsltError::Worker("no worker program configured".into()));
        };
        if jobs.is_empty() {
            return Ok(());
        }
        // The stylesheet's own folder: private (0700), holding only the stylesheet.
        let folder = tempfile::Builder::new().prefix("longhall-xslt-").tempdir()?;
        let path = folder.path().join(STYLESHEET_FILE);
        std::fs::write(&path, stylesheet)?;
        let mut cmd = Command::new(program);
        cmd.args(leading).arg("--stylesheet").arg(&path);
        // The worker's own limit, should this process die and no longer enforce it.
        cmd.arg("--time-limit-ms").arg(self.timeout.as_millis().max(1).to_string()).arg("--lifeline");
        for (i, o) in jobs {
            cmd.arg("--input").arg(i).arg("--output").arg(o);
        }
        let done = process::run::<std::convert::Infallible>(cmd, self.timeout, process::Stdin::Lifeline { pid_file })
            .map_err(|e| XsltError::Worker(format!("could not start {program:?}: {e}")))?;
        if done.timed_out {
            return Err(XsltError::Timeout { seconds: self.timeout.as_secs_f64(), pid: done.pid });
        }
        let folder_prefix = format!("{}/", folder.path().display());
        let message = done.stderr.replace(&folder_prefix, "").trim().to_owned();
        let line = find_line(&message);
        match done.status.code() {
            Some(worker::EXIT_OK) => Ok(()),
            Some(worker::EXIT_STYLESHEET) => Err(XsltError::Stylesheet { line, message }),
            Some(worker::EXIT_TRANSFORM) => Err(XsltError::Transform { line, message }),
            Some(worker::EXIT_INPUT) => Err(XsltError::Input(message)),
            Some(worker::EXIT_OUTPUT) => Err(XsltError::Output(message)),
            Some(worker::EXIT_TIMEOUT) => {
                Err(XsltError::Timeout { seconds: self.timeout.as_secs_f64(), pid: done.pid })
            }
            Some(code) => Err(XsltError::Worker(format!("exit code {code}: {message}"))),
            None => Err(XsltError::Worker(format!("killed by a signal ({}): {message}", done.status))),
        }
    }
}

/// The file in a work folder that holds the pid of the worker running on it.
pub const WORKER_PID_FILE: &str = "worker.pid";

/// Stops the worker recorded in `folder` (a work folder of an earlier run) if it still runs:
/// its process group is killed when the process named by the pid file is an XSLT worker whose
/// arguments name this folder (so a recycled pid is never hit). Returns whether one was killed.
pub fn stop_stale_worker(folder: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(folder.join(WORKER_PID_FILE)) else { return false };
    let Ok(pid) = text.trim().parse::<u32>() else { return false };
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let cmdline = String::from_utf8_lossy(&cmdline);
    let folder = folder.to_string_lossy();
    if !cmdline.contains("xslt-worker") || !cmdline.split('\0').any(|a| a.starts_with(&*folder)) {
        return false;
    }
    // Its group (the runner starts each worker as a group leader), and the process itself.
    engine::kill_process_group(pid);
    engine::kill_process(pid);
    true
}

/// The first stylesheet line number in libxml2/libxslt diagnostics: `stylesheet.xsl:12: parser
/// error …` or `… file stylesheet.xsl line 12 element …`.
fn find_line(message: &str) -> Option<u32> {
    let colon = format!("{STYLESHEET_FILE}:");
    let candidates = [
        message.find(&colon).map(|i| i + colon.len()),
        message.find(&format!("{STYLESHEET_FILE} line ")).map(|i| i + STYLESHEET_FILE.len() + 6),
        message.find("line ").map(|i| i + 5),
    ];
    candidates.into_iter().flatten().find_map(|start| {
        let digits: String = message[start..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// The file extension for a stylesheet's output, from its `xsl:output`: `.csv` when the
/// media type says CSV, `.html` for method html, `.txt` for method text, `.xml` otherwise.
pub fn output_extension(stylesheet: &str) -> &'static str {
    let mut rest = stylesheet;
    while let Some(i) = rest.find(":output") {
        let before = &rest[..i];
        let after = &rest[i + ":output".len()..];
        rest = after;
        // `<prefix:output` followed by whitespace, i.e. the element, not some other name.
        let is_tag = before.rfind('<').is_some_and(|lt| {
            before[lt + 1..].chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.')
        });
        if !is_tag || !after.starts_with(|c: char| c.is_whitespace() || c == '/' || c == '>') {
            continue;
        }
        let tag = &after[..after.find('>').unwrap_or(after.len())];
        let value = |name: &str| {
            for q in ['"', '\''] {
                let pat = format!("{name}={q}");
                if let Some(s) = tag.find(&pat) {
                    let v = &tag[s + pat.len()..];
                    return Some(v[..v.find(q).unwrap_or(v.len())].trim().to_ascii_lowercase());
                }
            }
            None
        };
        if value("media-type").is_some_and(|m| m.contains("csv")) {
            return ".csv";
        }
        return match value("method").as_deref() {
            Some("html") => ".html",
            Some("text") => ".txt",
            _ => ".xml",
        };
    }
    ".xml"
}

/// Applies `stylesheet` to the built-in sample batch ([`crate::sample`]) in the base format (no
/// room or user details) and returns the output: the admin's "test this stylesheet".
pub fn test_stylesheet(runner: &XsltRunner, stylesheet: &str) -> Result<String, XsltError> {
    test_stylesheet_with(runner, stylesheet, XmlOptions::default())
}

/// Same, with the room/user details the configuration asks for.
pub fn test_stylesheet_with(runner: &XsltRunner, stylesheet: &str, opts: XmlOptions) -> Result<String, XsltError> {
    let dir = tempfile::Builder::new().prefix("longhall-xslt-test-").tempdir()?;
    let input = dir.path().join("sample.xml");
    let output = dir.path().join("result");
    std::fs::write(&input, crate::sample::xml(opts))?;
    runner.transform(stylesheet, &input, &output)?;
    let bytes = std::fs::read(&output)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers_are_found_in_libxml_and_libxslt_messages() {
        assert_eq!(find_line("stylesheet.xsl:12: parser error : Opening and ending tag mismatch"), Some(12));
        assert_eq!(find_line("compilation error: file stylesheet.xsl line 7 element template"), Some(7));
        assert_eq!(find_line("XPath error at line 3"), Some(3));
        assert_eq!(find_line("nothing"), None);
    }

    #[test]
    fn extension_follows_xsl_output() {
        assert_eq!(output_extension(r#"<xsl:output method="text" media-type="text/csv"/>"#), ".csv");
        assert_eq!(output_extension(r#"<x:output indent='yes' method='html'>"#), ".html");
        assert_eq!(output_extension(r#"<xsl:output method="text"/>"#), ".txt");
        assert_eq!(output_extension(r#"<xsl:output method="xml"/>"#), ".xml");
        assert_eq!(output_extension(r#"<xsl:stylesheet/>"#), ".xml");
        assert_eq!(output_extension(r#"<xsl:template match="output"/><xsl:output method="html"/>"#), ".html");
    }
}
