//! `longhall tokens …`: sign-in and API tokens (`/api/v1/tokens`).

use clap::Subcommand;
use longhall_client::api::NewApiToken;

use crate::cli::{CALL_TIMEOUT, ClientArgs, block_on, explain, print_json, table};
use crate::compliance::utc_text;

#[derive(Subcommand)]
pub enum TokensCommand {
    /// List tokens (administrators: every one; others: their own). The token strings are
    /// never shown again.
    #[command(after_help = "Example:\n  longhall tokens list")]
    List,
    /// Create a long-lived API token (administrators), for yourself or another (bot) account;
    /// it is printed only now.
    #[command(after_help = "Example:\n  longhall tokens new 'build bot' --login bot@example.org")]
    New {
        /// What it is for (shown by `tokens list`).
        label: String,
        /// The account it acts as [default: yours].
        #[arg(long)]
        login: Option<String>,
    },
    /// Revoke a token by id: it stops working at once and its WebSockets close.
    #[command(after_help = "Example:\n  longhall tokens revoke 17")]
    Revoke { id: i64 },
}

pub fn run(args: ClientArgs, command: TokensCommand) -> anyhow::Result<()> {
    block_on(async {
        let c = args.client(Some(CALL_TIMEOUT))?;
        match command {
            TokensCommand::List => {
                let all = c.list_tokens().await.map_err(explain)?;
                if args.json {
                    return print_json(&all);
                }
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|t| {
                        vec![t.id.to_string(), t.login.clone(), t.kind.clone(), t.label.clone(), utc_text(t.created)]
                    })
                    .collect();
                print!("{}", table(&["ID", "LOGIN", "KIND", "LABEL", "CREATED"], &rows));
            }
            TokensCommand::New { label, login } => {
                let created = c.create_token(&NewApiToken { login, label }).await.map_err(explain)?;
                if args.json {
                    return print_json(&created);
                }
                println!("{}", created.token);
                eprintln!("Token {} created; it is shown only now: keep it like a password.", created.id);
            }
            TokensCommand::Revoke { id } => {
                c.revoke_token(id).await.map_err(explain)?;
                if !args.json {
                    println!("Revoked token {id}.");
                }
            }
        }
        Ok(())
    })
}
