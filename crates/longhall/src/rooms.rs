//! `longhall rooms …`: the room directory and room management (`/api/v1/rooms`), as an
//! administrator (or a manager, for the rooms they manage) sees them.

use clap::{Args, Subcommand};
use longhall_client::Client;
use longhall_client::api::{ClearRoom, NewRoom, Privacy, RoomInvitations, RoomType, RoomUpdate, RoomView};
use longhall_client::rooms::{EligibleQuery, RoomSearch};

use crate::cli::{
    CALL_TIMEOUT, ClientArgs, DayEnd, Refused, block_on, eligible_table, explain, fields, format_time, list, list_edit,
    parse_time, print_json, table, yes,
};

#[derive(Subcommand)]
pub enum RoomsCommand {
    /// Search the directory; every filter given must match.
    #[command(after_help = "Examples:\n  longhall rooms list --category Legal --privacy secret\n  \
longhall rooms list --member user:bob@example.org --disabled false\n  longhall rooms list --q budget --limit 20\n  \
longhall rooms list --content-larger-than-mb 100 --invitations off --result-size 0")]
    List(ListArgs),
    /// Show one room with its lists.
    #[command(after_help = "Example:\n  longhall rooms get 42\n  longhall rooms get 'Case 1234'")]
    Get {
        /// The room's id or exact name.
        room: String,
    },
    /// Create a room.
    #[command(after_help = "Principals: user:<login>, group:<name>, domain:<domain>, everyone; each must be in \
scope of the category (the ethical wall, out_of_scope).\n\nExample:\n  longhall rooms new 'Case 1234' \
--category Legal --privacy secret --members group:legal,user:ann@example.org --managers user:ann@example.org")]
    New(NewArgs),
    /// Change a room; options left out keep their value.
    #[command(after_help = "Examples:\n  longhall rooms set 42 --add-members user:bob@example.org \
--remove-presenters user:eve@example.org\n  longhall rooms set 'Case 1234' --category Archive   \
# moves it; out-of-scope entries are dropped and listed\n  longhall rooms set 42 --replace-managers \"\"")]
    Set(SetArgs),
    /// Users who may be put on the room's lists (its managers and administrators).
    #[command(after_help = "Examples:\n  longhall rooms eligible 42 --filter smith\n  longhall rooms eligible \
'Case 1234' --presenters")]
    Eligible {
        /// The room's id or exact name.
        room: String,
        /// Only users who may become presenters.
        #[arg(long)]
        presenters: bool,
        /// Text in the login or display name.
        #[arg(long)]
        filter: Option<String>,
        /// How many (1–500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Remove a room and its content (administrators).
    #[command(after_help = "Example:\n  longhall rooms remove 42")]
    Remove {
        /// The room's id or exact name.
        room: String,
    },
    /// Disable a room: nobody may join or post; it stays in the directory for administrators.
    #[command(after_help = "Example:\n  longhall rooms disable 42")]
    Disable {
        /// The room's id or exact name.
        room: String,
    },
    /// Delete a room's messages from the oldest up to and including a time (administrators);
    /// the compliance record keeps them. Sequence numbers go on where they were.
    #[command(after_help = "Dates: YYYY-MM-DD (up to the end of that UTC day) or RFC 3339.\n\nExamples:\n  \
longhall rooms clear 'Case 1234' --up-to 2025-12-31 --what-if\n  longhall rooms clear 42 --up-to 2026-03-01T12:00:00Z")]
    Clear {
        /// The room's id or exact name.
        room: String,
        /// The newest time to delete; a time in the future means now.
        #[arg(long, value_name = "DATE")]
        up_to: String,
        /// Only count what would be deleted (the original's -WhatIf); change nothing.
        #[arg(long, visible_alias = "dry-run")]
        what_if: bool,
    },
    /// Enable a disabled room again (administrators).
    #[command(after_help = "Example:\n  longhall rooms enable 42")]
    Enable {
        /// The room's id or exact name.
        room: String,
    },
}

#[derive(Args)]
pub struct ListArgs {
    /// Text in the name or description.
    #[arg(long)]
    q: Option<String>,
    /// Category id or name.
    #[arg(long)]
    category: Option<String>,
    /// open, closed or secret.
    #[arg(long, value_parser = wire::<Privacy>)]
    privacy: Option<Privacy>,
    /// normal or auditorium.
    #[arg(long = "type", value_parser = wire::<RoomType>)]
    room_type: Option<RoomType>,
    /// Add-in name.
    #[arg(long)]
    addin: Option<String>,
    /// Rooms whose member list names this principal (administrators).
    #[arg(long, value_name = "PRINCIPAL")]
    member: Option<String>,
    /// Rooms whose manager list names this principal (administrators).
    #[arg(long, value_name = "PRINCIPAL")]
    manager: Option<String>,
    /// Only disabled (true) or enabled (false) rooms (administrators).
    #[arg(long, value_name = "BOOL")]
    disabled: Option<bool>,
    /// Only rooms with this invitations setting: inherit or off.
    #[arg(long, value_parser = wire::<RoomInvitations>)]
    invitations: Option<RoomInvitations>,
    /// Only rooms whose messages take more than N MB (administrators; the original's
    /// -ChatContentExceedsMB).
    #[arg(long, value_name = "N")]
    content_larger_than_mb: Option<u64>,
    /// Only rooms the caller manages.
    #[arg(long)]
    managed: bool,
    /// Rooms per request (1–500).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Show at most N rooms in all, asking page after page (the original's -ResultSize);
    /// 0 means every matching room.
    #[arg(long, value_name = "N")]
    result_size: Option<u64>,
    /// Continue after this id (the `next` a previous page printed).
    #[arg(long)]
    after: Option<i64>,
}

#[derive(Args)]
pub struct NewArgs {
    name: String,
    /// Category id or name.
    #[arg(long)]
    category: String,
    #[arg(long, default_value = "")]
    description: String,
    /// open, closed or secret [default: closed].
    #[arg(long, value_parser = wire::<Privacy>)]
    privacy: Option<Privacy>,
    /// normal or auditorium [default: normal].
    #[arg(long = "type", value_parser = wire::<RoomType>)]
    room_type: Option<RoomType>,
    /// inherit (the category's switch) or off [default: inherit].
    #[arg(long, value_parser = wire::<RoomInvitations>)]
    invitations: Option<RoomInvitations>,
    /// Add-in name.
    #[arg(long)]
    addin: Option<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    members: Vec<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    managers: Vec<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    presenters: Vec<String>,
}

#[derive(Args)]
pub struct SetArgs {
    /// The room's id or exact name.
    room: String,
    /// A new name.
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Move the room to this category (id or name).
    #[arg(long)]
    category: Option<String>,
    #[arg(long, value_parser = wire::<Privacy>)]
    privacy: Option<Privacy>,
    #[arg(long = "type", value_parser = wire::<RoomType>)]
    room_type: Option<RoomType>,
    #[arg(long, value_parser = wire::<RoomInvitations>)]
    invitations: Option<RoomInvitations>,
    /// Add-in name ("" removes it).
    #[arg(long)]
    addin: Option<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    add_members: Vec<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    remove_members: Vec<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPALS")]
    replace_members: Option<Vec<String>>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    add_managers: Vec<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    remove_managers: Vec<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPALS")]
    replace_managers: Option<Vec<String>>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    add_presenters: Vec<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPAL")]
    remove_presenters: Vec<String>,
    #[arg(long, value_delimiter = ',', value_name = "PRINCIPALS")]
    replace_presenters: Option<Vec<String>>,
}

/// An enum from its wire name (`open`, `auditorium`, `inherit`…).
pub(crate) fn wire<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|e| e.to_string())
}

fn wire_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A room id, or the id of the room with exactly this name among those the caller can see.
pub(crate) async fn room_id(c: &Client, room: &str) -> anyhow::Result<i64> {
    if let Ok(id) = room.parse::<i64>() {
        return Ok(id);
    }
    let mut search = RoomSearch { q: Some(room.to_owned()), limit: Some(500), ..Default::default() };
    loop {
        let page = c.search_rooms(&search).await.map_err(explain)?;
        if let Some(r) = page.items.iter().find(|r| r.name == room) {
            return Ok(r.id);
        }
        match page.next {
            Some(next) => search.after = Some(next),
            // The server's own answer for a room that does not exist (id 0 never does), so a
            // secret room's name answers exactly like a missing one.
            None => {
                let missing = c.get_room(0).await.err().map(explain);
                return Err(missing.unwrap_or_else(|| {
                    Refused { code: "room_not_found".into(), message: format!("No room is named \"{room}\".") }.into()
                }));
            }
        }
    }
}

pub fn run(args: ClientArgs, command: RoomsCommand) -> anyhow::Result<()> {
    block_on(async {
        let c = args.client(Some(CALL_TIMEOUT))?;
        match command {
            RoomsCommand::List(a) => {
                let mut search = RoomSearch {
                    q: a.q,
                    category: a.category,
                    privacy: a.privacy,
                    room_type: a.room_type,
                    addin: a.addin,
                    invitations: a.invitations,
                    member: a.member,
                    manager: a.manager,
                    disabled: a.disabled,
                    content_larger_than_mb: a.content_larger_than_mb,
                    managed: a.managed,
                    after: a.after,
                    limit: Some(a.limit),
                };
                let mut page = c.search_rooms(&search).await.map_err(explain)?;
                // --result-size: keep asking until that many (or all) are in.
                if let Some(size) = a.result_size {
                    let want = if size == 0 { u64::MAX } else { size };
                    while (page.items.len() as u64) < want
                        && let Some(next) = page.next
                    {
                        search.after = Some(next);
                        let more = c.search_rooms(&search).await.map_err(explain)?;
                        page.items.extend(more.items);
                        page.next = more.next;
                    }
                    if page.items.len() as u64 > want {
                        page.items.truncate(want as usize);
                        page.next = page.items.last().map(|r| r.id);
                    }
                }
                if args.json {
                    return print_json(&page);
                }
                let rows: Vec<Vec<String>> = page
                    .items
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            r.name.clone(),
                            r.category.clone(),
                            wire_name(&r.privacy),
                            wire_name(&r.room_type),
                            wire_name(&r.invitations),
                            yes(r.disabled).into(),
                            r.participant_count.to_string(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(
                        &["ID", "NAME", "CATEGORY", "PRIVACY", "TYPE", "INVITATIONS", "DISABLED", "PARTICIPANTS"],
                        &rows
                    )
                );
                if let Some(next) = page.next {
                    eprintln!("More rooms: add --after {next}.");
                }
            }
            RoomsCommand::Get { room } => {
                let id = room_id(&c, &room).await?;
                show(&args, &c.get_room(id).await.map_err(explain)?)?;
            }
            RoomsCommand::New(a) => {
                let new = NewRoom {
                    name: a.name,
                    category: a.category,
                    description: a.description,
                    privacy: a.privacy.unwrap_or_default(),
                    room_type: a.room_type.unwrap_or_default(),
                    invitations: a.invitations.unwrap_or_default(),
                    addin: a.addin,
                    members: a.members,
                    managers: a.managers,
                    presenters: a.presenters,
                };
                show(&args, &c.create_room(&new).await.map_err(explain)?)?;
            }
            RoomsCommand::Set(a) => {
                let id = room_id(&c, &a.room).await?;
                let update = RoomUpdate {
                    name: a.name,
                    description: a.description,
                    category: a.category,
                    privacy: a.privacy,
                    room_type: a.room_type,
                    invitations: a.invitations,
                    addin: a.addin,
                    disabled: None,
                    members: list_edit(a.add_members, a.remove_members, a.replace_members),
                    managers: list_edit(a.add_managers, a.remove_managers, a.replace_managers),
                    presenters: list_edit(a.add_presenters, a.remove_presenters, a.replace_presenters),
                };
                let updated = c.update_room(id, &update).await.map_err(explain)?;
                if args.json {
                    return print_json(&updated);
                }
                show(&args, &updated.room)?;
                if !updated.purged.is_empty() {
                    println!("Dropped (out of the new category's scope): {}", updated.purged.join(", "));
                }
            }
            RoomsCommand::Eligible { room, presenters, filter, limit } => {
                let id = room_id(&c, &room).await?;
                let q = EligibleQuery { presenters, filter, limit: Some(limit) };
                let users = c.room_eligible(id, &q).await.map_err(explain)?;
                if args.json { print_json(&users)? } else { print!("{}", eligible_table(&users)) }
            }
            RoomsCommand::Remove { room } => {
                let id = room_id(&c, &room).await?;
                c.delete_room(id).await.map_err(explain)?;
                if !args.json {
                    println!("Removed room {id} and its content.");
                }
            }
            RoomsCommand::Clear { room, up_to, what_if } => {
                let up_to = parse_time(&up_to, DayEnd::End)?;
                let id = room_id(&c, &room).await?;
                // A large room is cleared in batches: no time limit on the call.
                let req = ClearRoom { up_to, dry_run: what_if };
                let cleared = args.client(None)?.clear_room(id, &req).await.map_err(explain)?;
                if args.json {
                    return print_json(&cleared);
                }
                let verb = if what_if { "Would delete" } else { "Deleted" };
                println!("{verb} {} message(s) of room {room} up to {} UTC.", cleared.count, format_time(up_to));
            }
            RoomsCommand::Disable { room } => set_disabled(&args, &c, &room, true).await?,
            RoomsCommand::Enable { room } => set_disabled(&args, &c, &room, false).await?,
        }
        Ok(())
    })
}

async fn set_disabled(args: &ClientArgs, c: &Client, room: &str, disabled: bool) -> anyhow::Result<()> {
    let id = room_id(c, room).await?;
    let update = RoomUpdate { disabled: Some(disabled), ..Default::default() };
    let updated = c.update_room(id, &update).await.map_err(explain)?;
    if args.json {
        return print_json(&updated);
    }
    println!("Room {} ({id}) is {}.", updated.room.name, if disabled { "disabled" } else { "enabled" });
    Ok(())
}

fn show(args: &ClientArgs, r: &RoomView) -> anyhow::Result<()> {
    if args.json {
        return print_json(r);
    }
    let hidden = || "(managers only)".to_owned();
    print!(
        "{}",
        fields(&[
            ("name", r.name.clone()),
            ("id", r.id.to_string()),
            ("description", r.description.clone()),
            ("category", format!("{} ({})", r.category, r.category_id)),
            ("privacy", wire_name(&r.privacy)),
            ("type", wire_name(&r.room_type)),
            ("invitations", format!("{} (active: {})", wire_name(&r.invitations), yes(r.invitations_active))),
            ("add-in", r.addin.as_ref().map_or_else(|| "-".into(), |a| a.name.clone())),
            ("disabled", yes(r.disabled).into()),
            ("participants", r.participant_count.to_string()),
            ("members", r.members.as_deref().map_or_else(hidden, list)),
            ("managers", r.managers.as_deref().map_or_else(hidden, list)),
            ("presenters", r.presenters.as_deref().map_or_else(hidden, list)),
        ])
    );
    Ok(())
}
