//! `longhall users …`: the directory's users (`/api/v1/admin/users`).

use clap::{Args, Subcommand};
use longhall_client::api::{NewUser, UserUpdate, UserView};
use longhall_client::users::ListQuery;

use crate::cli::{CALL_TIMEOUT, ClientArgs, block_on, explain, fields, print_json, read_stdin_line, table, yes};

#[derive(Subcommand)]
pub enum UsersCommand {
    /// List users, optionally those whose login or display name contains a text.
    #[command(after_help = "Example:\n  longhall users list --filter smith --limit 50")]
    List {
        /// Text in the login or display name.
        #[arg(long)]
        filter: Option<String>,
        /// How many (1–500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Continue after this id (the `next` a previous page printed).
        #[arg(long)]
        after: Option<i64>,
    },
    /// Show one user.
    #[command(after_help = "Example:\n  longhall users get alice@example.org")]
    Get {
        /// The login (name@domain).
        login: String,
    },
    /// Create a user.
    #[command(after_help = "Example:\n  printf '%s\\n' \"$PASS\" | longhall users new alice@example.org \
--display-name 'Alice Smith' --site paris --password-stdin")]
    New(NewArgs),
    /// Change a user; options left out keep their value.
    #[command(after_help = "Examples:\n  longhall users set alice@example.org --disabled true\n  \
longhall users set alice@example.org --policy no-chat\n  printf '%s\\n' \"$PASS\" | longhall users set \
alice@example.org --password-stdin")]
    Set(SetArgs),
    /// Remove a user: the account and its tokens (its connections end), and the list entries
    /// naming it; what it posted stays, attributed to its login.
    #[command(after_help = "Example:\n  longhall users remove bob@example.org")]
    Remove {
        /// The login (name@domain).
        login: String,
    },
    /// A user's effective policy and configuration, each value with the scope that gave it
    /// ("why can't Bob chat?").
    #[command(after_help = "Example:\n  longhall users effective bob@example.org")]
    Effective {
        /// The login (name@domain).
        login: String,
    },
}

#[derive(Args)]
pub struct NewArgs {
    /// The login (name@domain).
    login: String,
    #[arg(long)]
    display_name: Option<String>,
    #[arg(long)]
    email: Option<String>,
    /// The site (its policy and configuration apply to the user).
    #[arg(long)]
    site: Option<String>,
    /// Make the user an administrator.
    #[arg(long)]
    admin: bool,
    /// Read the password from the first line of stdin (without it the account signs in only
    /// with API tokens).
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Args)]
pub struct SetArgs {
    /// The login (name@domain).
    login: String,
    #[arg(long)]
    display_name: Option<String>,
    #[arg(long)]
    email: Option<String>,
    /// The site ("" clears it).
    #[arg(long)]
    site: Option<String>,
    /// A disabled user can't sign in, and their tokens stop working.
    #[arg(long, value_name = "BOOL")]
    disabled: Option<bool>,
    #[arg(long, value_name = "BOOL")]
    admin: Option<bool>,
    /// Grant a user-scope policy (`tag:` scope) by name ("" removes the grant).
    #[arg(long, value_name = "NAME")]
    policy: Option<String>,
    /// Read a new password from the first line of stdin.
    #[arg(long)]
    password_stdin: bool,
}

pub fn run(args: ClientArgs, command: UsersCommand) -> anyhow::Result<()> {
    block_on(async {
        let c = args.client(Some(CALL_TIMEOUT))?;
        match command {
            UsersCommand::List { filter, limit, after } => {
                let page = c.list_users(&ListQuery { filter, after, limit: Some(limit) }).await.map_err(explain)?;
                if args.json {
                    return print_json(&page);
                }
                let rows: Vec<Vec<String>> = page.items.iter().map(row).collect();
                print!("{}", table(&["LOGIN", "DISPLAY NAME", "EMAIL", "SITE", "ADMIN", "DISABLED", "POLICY"], &rows));
                if let Some(next) = page.next {
                    eprintln!("More users: add --after {next}.");
                }
            }
            UsersCommand::Get { login } => show(&args, &c.get_user(&login).await.map_err(explain)?)?,
            UsersCommand::New(a) => {
                let password = if a.password_stdin { Some(read_stdin_line("password")?) } else { None };
                let new = NewUser {
                    login: a.login,
                    display_name: a.display_name,
                    email: a.email,
                    site: a.site,
                    password,
                    admin: a.admin,
                };
                show(&args, &c.create_user(&new).await.map_err(explain)?)?;
            }
            UsersCommand::Set(a) => {
                let password = if a.password_stdin { Some(read_stdin_line("password")?) } else { None };
                let update = UserUpdate {
                    display_name: a.display_name,
                    email: a.email,
                    site: a.site,
                    disabled: a.disabled,
                    admin: a.admin,
                    password,
                    policy: a.policy,
                };
                show(&args, &c.update_user(&a.login, &update).await.map_err(explain)?)?;
            }
            UsersCommand::Remove { login } => {
                let removed = c.remove_user(&login).await.map_err(explain)?;
                if args.json {
                    return print_json(&removed);
                }
                println!("Removed {} ({} token(s) revoked).", removed.login, removed.tokens_revoked);
                for p in &removed.purged {
                    println!("  removed from {p}");
                }
            }
            UsersCommand::Effective { login } => {
                let e = c.effective_user(&login).await.map_err(explain)?;
                if args.json {
                    return print_json(&e);
                }
                print!(
                    "{}",
                    fields(&[
                        ("login", e.login.clone()),
                        ("site", e.site.clone().unwrap_or_else(|| "-".into())),
                        ("granted policy", e.granted_policy.clone().unwrap_or_else(|| "-".into())),
                        ("disabled", yes(e.disabled).into()),
                        ("can chat", yes(e.can_chat).into()),
                        ("why", e.reason.clone()),
                    ])
                );
                println!();
                let rows: Vec<Vec<String>> = e
                    .settings
                    .iter()
                    .map(|s| {
                        let value = match &s.value {
                            serde_json::Value::String(v) if v.is_empty() => "-".into(),
                            serde_json::Value::String(v) => v.clone(),
                            v => v.to_string(),
                        };
                        vec![s.name.clone(), value, s.source.clone()]
                    })
                    .collect();
                print!("{}", table(&["SETTING", "VALUE", "FROM"], &rows));
            }
        }
        Ok(())
    })
}

fn row(u: &UserView) -> Vec<String> {
    vec![
        u.login.clone(),
        u.display_name.clone(),
        u.email.clone(),
        u.site.clone().unwrap_or_else(|| "-".into()),
        yes(u.admin).into(),
        yes(u.disabled).into(),
        u.policy.clone().unwrap_or_else(|| "-".into()),
    ]
}

fn show(args: &ClientArgs, u: &UserView) -> anyhow::Result<()> {
    if args.json {
        return print_json(u);
    }
    let none = || "-".to_owned();
    print!(
        "{}",
        fields(&[
            ("login", u.login.clone()),
            ("id", u.id.to_string()),
            ("display name", u.display_name.clone()),
            ("email", u.email.clone()),
            ("site", u.site.clone().unwrap_or_else(none)),
            ("admin", yes(u.admin).into()),
            ("disabled", yes(u.disabled).into()),
            ("policy", u.policy.clone().unwrap_or_else(none)),
        ])
    );
    Ok(())
}
