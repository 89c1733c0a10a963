//! `longhall categories …`: categories, their switches and their principal lists
//! (`/api/v1/admin/categories`).

use clap::{Args, Subcommand};
use longhall_client::api::{CategoryUpdate, CategoryView, NewCategory};

use crate::cli::{
    CALL_TIMEOUT, ClientArgs, block_on, eligible_table, explain, fields, list, list_edit, print_json, table, yes,
};

#[derive(Subcommand)]
pub enum CategoriesCommand {
    /// List every category.
    #[command(after_help = "Example:\n  longhall categories list")]
    List,
    /// Show one category (by id or name).
    #[command(after_help = "Example:\n  longhall categories get Legal")]
    Get {
        /// The category's id or name.
        category: String,
    },
    /// Create a category.
    #[command(after_help = "Principals: user:<login>, group:<name>, domain:<domain>, everyone.\n\nExample:\n  \
longhall categories new Legal --description 'Legal department' --allowed group:legal \
--denied user:intern@example.org --creators group:legal-leads --file-upload true")]
    New(NewArgs),
    /// Change a category; options left out keep their value.
    #[command(after_help = "Principals: user:<login>, group:<name>, domain:<domain>, everyone. \
--replace-X \"\" empties a list.\n\nExamples:\n  longhall categories set Legal --add-allowed \
group:paralegals --remove-denied user:intern@example.org\n  longhall categories set Legal --replace-creators \
user:ann@example.org,user:bob@example.org\n  longhall categories set Legal --name 'Legal & Compliance' \
--invitations true")]
    Set(SetArgs),
    /// Users in the category's scope (groups and domains expanded), who may be put on its
    /// rooms' lists.
    #[command(after_help = "Example:\n  longhall categories eligible Legal --filter smith")]
    Eligible {
        /// The category's id or name.
        category: String,
        /// Text in the login or display name.
        #[arg(long)]
        filter: Option<String>,
        /// How many (1–500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Remove a category; refused (category_not_empty) while it holds rooms.
    #[command(after_help = "Example:\n  longhall categories remove Legal")]
    Remove {
        /// The category's id or name.
        category: String,
    },
}

#[derive(Args)]
pub struct NewArgs {
    name: String,
    #[arg(long, default_value = "")]
    description: String,
    /// Invitations may be sent for its rooms [default: false].
    #[arg(long, value_name = "BOOL")]
    invitations: Option<bool>,
    /// Files may be uploaded to its rooms [default: false].
    #[arg(long, value_name = "BOOL")]
    file_upload: Option<bool>,
    /// Its rooms keep their history [default: true].
    #[arg(long, value_name = "BOOL")]
    chat_history: Option<bool>,
    /// Who is in scope (repeat, or separate with commas).
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    allowed: Vec<String>,
    /// Who is taken out of scope again (deny wins).
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    denied: Vec<String>,
    /// Who may create rooms in it.
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    creators: Vec<String>,
}

#[derive(Args)]
pub struct SetArgs {
    /// The category's id or name.
    category: String,
    /// A new name.
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long, value_name = "BOOL")]
    invitations: Option<bool>,
    #[arg(long, value_name = "BOOL")]
    file_upload: Option<bool>,
    #[arg(long, value_name = "BOOL")]
    chat_history: Option<bool>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    add_allowed: Vec<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    remove_allowed: Vec<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPALS")]
    replace_allowed: Option<Vec<String>>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    add_denied: Vec<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    remove_denied: Vec<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPALS")]
    replace_denied: Option<Vec<String>>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    add_creators: Vec<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    remove_creators: Vec<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPALS")]
    replace_creators: Option<Vec<String>>,
}

pub fn run(args: ClientArgs, command: CategoriesCommand) -> anyhow::Result<()> {
    block_on(async {
        let c = args.client(Some(CALL_TIMEOUT))?;
        match command {
            CategoriesCommand::List => {
                let all = c.categories().await.map_err(explain)?;
                if args.json {
                    return print_json(&all);
                }
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|k| {
                        vec![
                            k.id.to_string(),
                            k.name.clone(),
                            switches(k),
                            list(&k.allowed_members),
                            list(&k.denied_members),
                            list(&k.creators),
                        ]
                    })
                    .collect();
                print!("{}", table(&["ID", "NAME", "SWITCHES", "ALLOWED", "DENIED", "CREATORS"], &rows));
            }
            CategoriesCommand::Get { category } => show(&args, &c.get_category(&category).await.map_err(explain)?)?,
            CategoriesCommand::New(a) => {
                let new = NewCategory {
                    name: a.name,
                    description: a.description,
                    invitations: a.invitations.unwrap_or(false),
                    file_upload: a.file_upload.unwrap_or(false),
                    chat_history: a.chat_history,
                    allowed_members: a.allowed,
                    denied_members: a.denied,
                    creators: a.creators,
                };
                show(&args, &c.create_category(&new).await.map_err(explain)?)?;
            }
            CategoriesCommand::Set(a) => {
                let update = CategoryUpdate {
                    name: a.name,
                    description: a.description,
                    invitations: a.invitations,
                    file_upload: a.file_upload,
                    chat_history: a.chat_history,
                    allowed_members: list_edit(a.add_allowed, a.remove_allowed, a.replace_allowed),
                    denied_members: list_edit(a.add_denied, a.remove_denied, a.replace_denied),
                    creators: list_edit(a.add_creators, a.remove_creators, a.replace_creators),
                };
                show(&args, &c.update_category(&a.category, &update).await.map_err(explain)?)?;
            }
            CategoriesCommand::Eligible { category, filter, limit } => {
                let users = c.category_eligible(&category, filter.as_deref(), Some(limit)).await.map_err(explain)?;
                if args.json { print_json(&users)? } else { print!("{}", eligible_table(&users)) }
            }
            CategoriesCommand::Remove { category } => {
                c.delete_category(&category).await.map_err(explain)?;
                if !args.json {
                    println!("Removed category {category}.");
                }
            }
        }
        Ok(())
    })
}

/// The switches that are on, e.g. `history,files`.
fn switches(k: &CategoryView) -> String {
    let on: Vec<&str> = [(k.chat_history, "history"), (k.file_upload, "files"), (k.invitations, "invitations")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    if on.is_empty() { "-".into() } else { on.join(",") }
}

fn show(args: &ClientArgs, k: &CategoryView) -> anyhow::Result<()> {
    if args.json {
        return print_json(k);
    }
    print!(
        "{}",
        fields(&[
            ("name", k.name.clone()),
            ("id", k.id.to_string()),
            ("description", k.description.clone()),
            ("chat history", yes(k.chat_history).into()),
            ("file upload", yes(k.file_upload).into()),
            ("invitations", yes(k.invitations).into()),
            ("allowed", list(&k.allowed_members)),
            ("denied", list(&k.denied_members)),
            ("creators", list(&k.creators)),
        ])
    );
    Ok(())
}
