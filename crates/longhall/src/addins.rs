//! `longhall addins …`: the add-ins rooms may show (`/api/v1/admin/addins`).

use clap::Subcommand;
use longhall_client::api::{AddinUpdate, AddinView, NewAddin};

use crate::cli::{CALL_TIMEOUT, ClientArgs, block_on, explain, print_json, table};

#[derive(Subcommand)]
pub enum AddinsCommand {
    /// List the add-ins.
    #[command(after_help = "Example:\n  longhall addins list")]
    List,
    /// Register an add-in (name 1–50 characters; URL http:// or https://, at most 255).
    #[command(after_help = "Example:\n  longhall addins new wiki https://wiki.example.org/panel")]
    New {
        name: String,
        /// The add-in's page (not `url`: that flag names the server).
        #[arg(value_name = "URL")]
        addin_url: String,
    },
    /// Rename an add-in or change its URL.
    #[command(after_help = "Example:\n  longhall addins set wiki --addin-url https://wiki.example.org/v2/panel")]
    Set {
        name: String,
        /// A new name.
        #[arg(long = "name", value_name = "NAME")]
        new_name: Option<String>,
        /// A new page address (`--url` names the server).
        #[arg(long, value_name = "URL")]
        addin_url: Option<String>,
    },
    /// Remove an add-in no room uses.
    #[command(after_help = "Example:\n  longhall addins remove wiki")]
    Remove { name: String },
}

pub fn run(args: ClientArgs, command: AddinsCommand) -> anyhow::Result<()> {
    block_on(async {
        let c = args.client(Some(CALL_TIMEOUT))?;
        match command {
            AddinsCommand::List => {
                let all = c.addins().await.map_err(explain)?;
                if args.json { print_json(&all)? } else { print!("{}", addin_table(&all)) }
            }
            AddinsCommand::New { name, addin_url } => {
                let a = c.create_addin(&NewAddin { name, url: addin_url }).await.map_err(explain)?;
                if args.json { print_json(&a)? } else { print!("{}", addin_table(&[a])) }
            }
            AddinsCommand::Set { name, new_name, addin_url } => {
                let a =
                    c.update_addin(&name, &AddinUpdate { name: new_name, url: addin_url }).await.map_err(explain)?;
                if args.json { print_json(&a)? } else { print!("{}", addin_table(&[a])) }
            }
            AddinsCommand::Remove { name } => {
                c.delete_addin(&name).await.map_err(explain)?;
                if !args.json {
                    println!("Removed add-in {name}.");
                }
            }
        }
        Ok(())
    })
}

fn addin_table(all: &[AddinView]) -> String {
    let rows: Vec<Vec<String>> = all.iter().map(|a| vec![a.id.to_string(), a.name.clone(), a.url.clone()]).collect();
    table(&["ID", "NAME", "URL"], &rows)
}
