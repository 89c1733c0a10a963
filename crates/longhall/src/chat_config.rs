//! `longhall chat-config …`: the chat configuration at the global and site scopes
//! (`/api/v1/admin/config`). Named apart from `longhall config`, which is about the server
//! process's own configuration file.

use clap::{Args, Subcommand};
use longhall_client::api::{ConfigPut, ConfigView};

use crate::cli::{CALL_TIMEOUT, ClientArgs, block_on, explain, print_json, table};

#[derive(Subcommand)]
pub enum ChatConfigCommand {
    /// List every scope's configuration (global is always listed).
    #[command(after_help = "Example:\n  longhall chat-config list")]
    List,
    /// Set values at a scope (global or site:<name>); values left out keep theirs (a new scope
    /// starts from the defaults).
    #[command(after_help = "Ranges: default-chat-history 1–500; max-file-size-kb 1–4194304; \
participant-update-limit 1–1000000; room-management-url http:// or https:// (\"\" clears it).\n\n\
Examples:\n  longhall chat-config set global --default-chat-history 50\n  longhall chat-config set \
site:paris --max-file-size-kb 10240 --room-management-url https://chat.example.org/manage")]
    Set(SetArgs),
    /// Remove a scope (removing global returns it to the defaults).
    #[command(after_help = "Example:\n  longhall chat-config remove site:paris")]
    Remove {
        /// global or site:<name>.
        scope: String,
    },
}

#[derive(Args)]
pub struct SetArgs {
    /// global or site:<name>.
    scope: String,
    /// Messages returned on join and by history calls without a limit (1–500).
    #[arg(long, value_name = "N")]
    default_chat_history: Option<u32>,
    /// Largest file that may be uploaded, in KiB (1–4194304).
    #[arg(long, value_name = "KIB")]
    max_file_size_kb: Option<u64>,
    /// Above this many connected users a room sends no participant lists or join/leave
    /// notices (1–1000000; only the global value is used).
    #[arg(long, value_name = "N")]
    participant_update_limit: Option<u32>,
    /// The room-management page's address ("" clears it).
    #[arg(long, value_name = "URL")]
    room_management_url: Option<String>,
}

pub fn run(args: ClientArgs, command: ChatConfigCommand) -> anyhow::Result<()> {
    block_on(async {
        let c = args.client(Some(CALL_TIMEOUT))?;
        match command {
            ChatConfigCommand::List => {
                let all = c.list_config().await.map_err(explain)?;
                if args.json { print_json(&all)? } else { print!("{}", config_table(&all)) }
            }
            ChatConfigCommand::Set(a) => {
                let put = ConfigPut {
                    default_chat_history: a.default_chat_history,
                    max_file_size_kb: a.max_file_size_kb,
                    participant_update_limit: a.participant_update_limit,
                    room_management_url: a.room_management_url,
                };
                let v = c.put_config(&a.scope, &put).await.map_err(explain)?;
                if args.json { print_json(&v)? } else { print!("{}", config_table(&[v])) }
            }
            ChatConfigCommand::Remove { scope } => {
                c.delete_config(&scope).await.map_err(explain)?;
                if !args.json {
                    println!("Removed the configuration of {scope}.");
                }
            }
        }
        Ok(())
    })
}

fn config_table(all: &[ConfigView]) -> String {
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|v| {
            vec![
                v.scope.clone(),
                v.default_chat_history.to_string(),
                v.max_file_size_kb.to_string(),
                v.participant_update_limit.to_string(),
                if v.room_management_url.is_empty() { "-".into() } else { v.room_management_url.clone() },
            ]
        })
        .collect();
    table(&["SCOPE", "DEFAULT HISTORY", "MAX FILE KB", "PARTICIPANT UPDATES", "ROOM MANAGEMENT URL"], &rows)
}
