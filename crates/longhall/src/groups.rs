//! `longhall groups …`: groups of users and groups (`/api/v1/admin/groups`).

use clap::{Args, Subcommand};
use longhall_client::api::{GroupUpdate, GroupView, NewGroup};
use longhall_client::users::ListQuery;

use crate::cli::{CALL_TIMEOUT, ClientArgs, block_on, explain, fields, list, list_edit, print_json, table};

#[derive(Subcommand)]
pub enum GroupsCommand {
    /// List groups, optionally those whose name contains a text.
    #[command(after_help = "Example:\n  longhall groups list --filter legal")]
    List {
        /// Text in the group's name.
        #[arg(long)]
        filter: Option<String>,
        /// How many (1–500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Continue after this id (the `next` a previous page printed).
        #[arg(long)]
        after: Option<i64>,
    },
    /// Show one group and its direct members.
    #[command(after_help = "Example:\n  longhall groups get legal")]
    Get { name: String },
    /// Create a group.
    #[command(after_help = "Members: user:<login> or group:<name> (groups nest).\n\nExample:\n  \
longhall groups new legal --members user:ann@example.org,group:paralegals")]
    New {
        name: String,
        /// Direct members (repeat, or separate with commas).
        #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
        members: Vec<String>,
    },
    /// Rename a group or edit its members; room access follows at once.
    #[command(after_help = "Examples:\n  longhall groups set legal --add user:bob@example.org --remove \
user:eve@example.org\n  longhall groups set legal --replace group:paralegals\n  longhall groups set legal \
--name legal-team")]
    Set(SetArgs),
    /// Remove a group and every list entry naming it (groups, categories, rooms).
    #[command(after_help = "Example:\n  longhall groups remove legal")]
    Remove { name: String },
    /// Check group expansion (the resource kit's AffCheck): cycles, entries naming missing users
    /// or groups, and users whose membership in memory differs from the store's. Exits 1 when
    /// something is inconsistent (cycles alone are tolerated).
    #[command(after_help = "Example:\n  longhall groups check")]
    Check,
}

#[derive(Args)]
pub struct SetArgs {
    name: String,
    /// A new name.
    #[arg(long = "name", value_name = "NAME")]
    new_name: Option<String>,
    /// Members to add.
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    add: Vec<String>,
    /// Members to remove.
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    remove: Vec<String>,
    /// The whole member list ("" empties it).
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPALS")]
    replace: Option<Vec<String>>,
}

pub fn run(args: ClientArgs, command: GroupsCommand) -> anyhow::Result<()> {
    block_on(async {
        let c = args.client(Some(CALL_TIMEOUT))?;
        match command {
            GroupsCommand::List { filter, limit, after } => {
                let page = c.list_groups(&ListQuery { filter, after, limit: Some(limit) }).await.map_err(explain)?;
                if args.json {
                    return print_json(&page);
                }
                let rows: Vec<Vec<String>> =
                    page.items.iter().map(|g| vec![g.name.clone(), list(&g.members)]).collect();
                print!("{}", table(&["NAME", "MEMBERS"], &rows));
                if let Some(next) = page.next {
                    eprintln!("More groups: add --after {next}.");
                }
            }
            GroupsCommand::Get { name } => show(&args, &c.get_group(&name).await.map_err(explain)?)?,
            GroupsCommand::New { name, members } => {
                show(&args, &c.create_group(&NewGroup { name, members }).await.map_err(explain)?)?
            }
            GroupsCommand::Set(a) => {
                let update = GroupUpdate { name: a.new_name, members: list_edit(a.add, a.remove, a.replace) };
                show(&args, &c.update_group(&a.name, &update).await.map_err(explain)?)?;
            }
            GroupsCommand::Remove { name } => {
                c.delete_group(&name).await.map_err(explain)?;
                if !args.json {
                    println!("Removed group {name}.");
                }
            }
            GroupsCommand::Check => {
                let check = c.check_groups().await.map_err(explain)?;
                if args.json {
                    print_json(&check)?;
                } else {
                    let section = |title: &str, items: &[String]| {
                        if items.is_empty() {
                            println!("{title}: none");
                        } else {
                            println!("{title}:");
                        }
                        for i in items {
                            println!("  {i}");
                        }
                    };
                    let cycles: Vec<String> = check.cycles.iter().map(|c| c.join(" → ")).collect();
                    section("cycles (tolerated)", &cycles);
                    section("dangling group members", &check.dangling_members);
                    section("dangling list entries", &check.dangling_list_entries);
                    section("memberships differing from the store", &check.membership_differences);
                }
                if !check.consistent {
                    anyhow::bail!(
                        "group expansion is inconsistent (see above); removing and re-adding the entries fixes it"
                    );
                }
                if !args.json {
                    println!("Consistent.");
                }
            }
        }
        Ok(())
    })
}

fn show(args: &ClientArgs, g: &GroupView) -> anyhow::Result<()> {
    if args.json {
        return print_json(g);
    }
    print!("{}", fields(&[("name", g.name.clone()), ("id", g.id.to_string()), ("members", list(&g.members))]));
    Ok(())
}
