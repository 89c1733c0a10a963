//! The built-in adapters, one module each, and the factory that makes one from its name.
//!
//! | name | module | output |
//! |---|---|---|
//! | `xml` | [`xml`] | the documented XML format, optionally transformed by an XSLT 1.0 stylesheet |
//! | `jsonl` | [`jsonl`] | JSON Lines, one object per event |
//! | `eml` | [`eml`] | one RFC 5322 message per conversation |
//! | `command` | [`command`] | the batch as JSON Lines on an admin-configured program's stdin |

pub mod command;
pub mod eml;
pub mod jsonl;
pub mod xml;

use std::time::Duration;

use longhall_core::model::RoomId;

use crate::adapter::{Adapter, AdapterError};
use crate::batch::BatchInfo;
use crate::xslt::XsltRunner;

/// The names [`build`] accepts.
pub const NAMES: [&str; 4] = ["xml", "jsonl", "eml", "command"];

/// What the adapters need besides their configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// Runs XSLT stylesheets (the `xml` adapter's `custom_configuration`).
    pub xslt: XsltRunner,
    /// Time limit of one run of the `command` adapter's program.
    pub command_timeout: Duration,
}

/// Default time limit of the `command` adapter's program.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

impl Default for BuildOptions {
    /// The XSLT worker is the running program's `xslt-worker` subcommand (the `longhall`
    /// binary) with [`crate::xslt::DEFAULT_TIMEOUT`]; the command timeout is
    /// [`DEFAULT_COMMAND_TIMEOUT`].
    fn default() -> BuildOptions {
        let xslt = XsltRunner::current_exe(crate::xslt::DEFAULT_TIMEOUT).unwrap_or_else(|_| {
            XsltRunner::new(vec!["longhall".into(), "xslt-worker".into()], crate::xslt::DEFAULT_TIMEOUT)
        });
        BuildOptions { xslt, command_timeout: DEFAULT_COMMAND_TIMEOUT }
    }
}

/// The adapter called `name` (`xml`, `jsonl`, `eml`, `command`), with default options.
pub fn build(name: &str) -> Result<Box<dyn Adapter>, AdapterError> {
    build_with(name, &BuildOptions::default())
}

/// The adapter called `name`, with explicit options.
pub fn build_with(name: &str, options: &BuildOptions) -> Result<Box<dyn Adapter>, AdapterError> {
    match name {
        "xml" => Ok(Box::new(xml::XmlAdapter::new(options.xslt.clone()))),
        "jsonl" => Ok(Box::new(jsonl::JsonlAdapter::new())),
        "eml" => Ok(Box::new(eml::EmlAdapter::new())),
        "command" => Ok(Box::new(command::CommandAdapter::new(options.command_timeout))),
        other => Err(AdapterError::Config(format!(
            "unknown compliance adapter {other:?}; expected one of {}",
            NAMES.join(", ")
        ))),
    }
}

/// The stem of an output file: `<batch id>` for a whole batch, `<batch id>-room<room id>` for
/// one conversation. Both depend only on the batch, so a retried batch writes the same names.
pub fn file_stem(batch: &BatchInfo, room: Option<RoomId>) -> String {
    match room {
        Some(id) => format!("{}-room{id}", batch.id),
        None => batch.id.clone(),
    }
}
