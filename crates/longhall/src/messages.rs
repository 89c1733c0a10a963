//! `longhall messages …`: administrators' content actions on the messages of a room
//! (`/api/v1/admin/rooms/{id}/remove-messages`), the original's Remove-CsPersistentChatMessage.

use clap::{Args, Subcommand};
use longhall_client::api::{KeywordMatch, RemoveMessages};

use crate::cli::{ClientArgs, DayEnd, Usage, block_on, explain, format_time, parse_time, print_json, table};
use crate::rooms::{room_id, wire};

#[derive(Subcommand)]
pub enum MessagesCommand {
    /// Replace (default notice, or --replace TEXT) or delete (--delete) the messages of a room
    /// that every given selector matches; the compliance record keeps the originals.
    #[command(after_help = "Dates: YYYY-MM-DD (a whole UTC day, both ends inclusive) or RFC 3339.\n\nExamples:\n  \
longhall messages remove 'Case 1234' --author bob@example.org --from 2026-03-01 --to 2026-03-31 --what-if\n  \
longhall messages remove 42 --keywords merger plan --match all --replace '[withdrawn]'\n  \
longhall messages remove 42 --keywords 'project x' --match phrase --case-sensitive --delete")]
    Remove(RemoveArgs),
}

#[derive(Args)]
pub struct RemoveArgs {
    /// The room's id or exact name.
    room: String,
    /// Only these sequence numbers (comma-separated, at most 1000).
    #[arg(long = "seq", value_delimiter = ',', value_name = "SEQ")]
    seqs: Vec<i64>,
    /// Only messages of this author (login).
    #[arg(long)]
    author: Option<String>,
    /// Only messages posted at or after this time.
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// Only messages posted at or before this time (a bare date: up to the day's end).
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// Keywords (separated by spaces, in one or several arguments), matched inside the text.
    #[arg(long, num_args = 1.., value_name = "WORD")]
    keywords: Vec<String>,
    /// all: every keyword; any: at least one; phrase: the keywords together, in order.
    #[arg(long = "match", value_parser = wire::<KeywordMatch>, default_value = "all")]
    match_mode: KeywordMatch,
    /// Keywords match only with the same case.
    #[arg(long)]
    case_sensitive: bool,
    /// Replace the text with this instead of the default notice.
    #[arg(long, value_name = "TEXT", conflicts_with = "delete")]
    replace: Option<String>,
    /// Delete the messages outright, leaving no notice.
    #[arg(long)]
    delete: bool,
    /// Only list what would be affected (the original's -WhatIf); change nothing.
    #[arg(long, visible_alias = "dry-run")]
    what_if: bool,
}

pub fn run(args: ClientArgs, command: MessagesCommand) -> anyhow::Result<()> {
    block_on(async {
        // A large room takes a while: no time limit on the call itself.
        let c = args.client(None)?;
        match command {
            MessagesCommand::Remove(a) => {
                let from = a.from.as_deref().map(|t| parse_time(t, DayEnd::Start)).transpose()?;
                let to = a.to.as_deref().map(|t| parse_time(t, DayEnd::End)).transpose()?;
                let keywords = (!a.keywords.is_empty()).then(|| a.keywords.join(" "));
                if a.seqs.is_empty() && a.author.is_none() && from.is_none() && to.is_none() && keywords.is_none() {
                    return Err(Usage(
                        "choose the messages with --seq, --author, --from/--to or --keywords \
                         (to empty a room: longhall rooms clear ROOM --up-to DATE)"
                            .into(),
                    )
                    .into());
                }
                let id = room_id(&c, &a.room).await?;
                let req = RemoveMessages {
                    seqs: a.seqs,
                    author: a.author,
                    from,
                    to,
                    keywords,
                    match_mode: a.match_mode,
                    case_sensitive: a.case_sensitive,
                    replacement: a.replace,
                    delete: a.delete,
                    dry_run: a.what_if,
                };
                let done = c.remove_messages(id, &req).await.map_err(explain)?;
                if args.json {
                    return print_json(&done);
                }
                let verb = match (done.dry_run, req.delete) {
                    (true, true) => "Would delete",
                    (true, false) => "Would replace",
                    (false, true) => "Deleted",
                    (false, false) => "Replaced",
                };
                println!("{verb} {} message(s) in room {}.", done.count, a.room);
                let rows: Vec<Vec<String>> = done
                    .messages
                    .iter()
                    .map(|m| vec![m.seq.to_string(), format_time(m.ts), m.author.clone(), one_line(&m.text)])
                    .collect();
                if !rows.is_empty() {
                    print!("{}", table(&["SEQ", "TIME (UTC)", "AUTHOR", "TEXT"], &rows));
                }
                if done.count > done.messages.len() as u64 {
                    println!("(the first {} shown)", done.messages.len());
                }
            }
        }
        Ok(())
    })
}

/// A message on one table line: newlines folded, at most 60 characters.
fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 60 { format!("{}…", flat.chars().take(59).collect::<String>()) } else { flat }
}
