//! `longhall policies …`: who may use persistent chat, at the global, site and user (tag)
//! scopes (`/api/v1/admin/policies`), and granting a tag policy to a user.

use clap::{Args, Subcommand};
use longhall_client::api::{PolicyPut, UserUpdate};

use crate::cli::{CALL_TIMEOUT, ClientArgs, block_on, explain, print_json, table, yes};

#[derive(Subcommand)]
pub enum PoliciesCommand {
    /// List every policy.
    #[command(after_help = "Example:\n  longhall policies list")]
    List,
    /// Create or replace the policy of a scope (global, site:<name> or tag:<name>).
    #[command(after_help = "Examples:\n  longhall policies set tag:no-chat --enable-persistent-chat false \
--description 'Contractors'\n  longhall policies set site:paris --enable-persistent-chat true")]
    Set(SetArgs),
    /// Remove a scope's policy (removing global turns chat off for users without another one;
    /// removing a tag policy removes its grants).
    #[command(after_help = "Example:\n  longhall policies remove tag:no-chat")]
    Remove {
        /// global, site:<name> or tag:<name>.
        scope: String,
    },
    /// Grant a user-scope (tag) policy to a user ("" removes the grant).
    #[command(after_help = "Examples:\n  longhall policies grant bob@example.org no-chat\n  \
longhall policies grant bob@example.org \"\"")]
    Grant {
        /// The user's login.
        login: String,
        /// The tag policy's name (tag:<name> or <name>).
        policy: String,
    },
}

#[derive(Args)]
pub struct SetArgs {
    /// global, site:<name> or tag:<name>.
    scope: String,
    /// Whether the users this policy applies to may use persistent chat.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, required = true)]
    enable_persistent_chat: bool,
    #[arg(long, default_value = "")]
    description: String,
}

pub fn run(args: ClientArgs, command: PoliciesCommand) -> anyhow::Result<()> {
    block_on(async {
        let c = args.client(Some(CALL_TIMEOUT))?;
        match command {
            PoliciesCommand::List => {
                let all = c.list_policies().await.map_err(explain)?;
                if args.json {
                    return print_json(&all);
                }
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|p| vec![p.scope.clone(), yes(p.enable_persistent_chat).into(), p.description.clone()])
                    .collect();
                print!("{}", table(&["SCOPE", "CHAT", "DESCRIPTION"], &rows));
            }
            PoliciesCommand::Set(a) => {
                let put = PolicyPut { enable_persistent_chat: a.enable_persistent_chat, description: a.description };
                let p = c.put_policy(&a.scope, &put).await.map_err(explain)?;
                if args.json {
                    return print_json(&p);
                }
                println!("{}: persistent chat {}", p.scope, if p.enable_persistent_chat { "on" } else { "off" });
            }
            PoliciesCommand::Remove { scope } => {
                c.delete_policy(&scope).await.map_err(explain)?;
                if !args.json {
                    println!("Removed the policy of {scope}.");
                }
            }
            PoliciesCommand::Grant { login, policy } => {
                let name = policy.strip_prefix("tag:").unwrap_or(&policy).to_owned();
                let update = UserUpdate { policy: Some(name), ..Default::default() };
                let u = c.update_user(&login, &update).await.map_err(explain)?;
                if args.json {
                    return print_json(&u);
                }
                match &u.policy {
                    Some(p) => println!("{} now has the policy tag:{p}.", u.login),
                    None => println!("{} has no user-scope policy now.", u.login),
                }
            }
        }
        Ok(())
    })
}
