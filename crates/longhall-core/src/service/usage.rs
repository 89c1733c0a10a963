//! The usage report (the original's ChatUsageReport): the store counts, the core ranks,
//! names and groups the counts by week and month.

use std::collections::{BTreeMap, HashMap};

use longhall_types::api::{PeriodCount, RoomActivity, UsageQuery, UsageReport, UsageTotals, UserActivity};
use longhall_types::limits::MAX_PAGE;

use super::{Actor, Longhall};
use crate::error::{CoreError, CoreResult};
use crate::model::*;

/// Length of each most/least active list when the query names none.
pub const DEFAULT_USAGE_TOP: u32 = 10;

impl Longhall {
    /// The usage report of `[since, until]` (administrators).
    pub async fn usage_report(&self, actor: &Actor, q: UsageQuery) -> CoreResult<UsageReport> {
        actor.require_admin()?;
        let top = q.top.unwrap_or(DEFAULT_USAGE_TOP);
        crate::rules::check_range("top", top, 1..=MAX_PAGE)?;
        let until = q.until.unwrap_or_else(|| self.now());
        if q.since.is_some_and(|s| s > until) {
            return Err(CoreError::invalid("`since` is after `until`: give the start of the period first."));
        }
        let figures = self.store.usage(q.since.unwrap_or(0), until).await?;
        let inactive_since = q.inactive_since.or(q.since);
        let top = top as usize;

        let cat = self.cat();
        let rooms: Vec<RoomActivity> = figures
            .rooms
            .iter()
            .filter_map(|u| {
                let r = cat.rooms.get(&u.room)?;
                let category = cat.categories.get(&r.category).map(|c| c.name.clone()).unwrap_or_default();
                Some(RoomActivity {
                    id: r.id,
                    name: r.name.clone(),
                    category,
                    disabled: r.disabled,
                    messages: u.messages,
                    last_post: u.last_post,
                })
            })
            .collect();
        let posted: HashMap<UserId, u64> = figures.users.iter().copied().collect();
        let mut users: Vec<UserActivity> = cat
            .users
            .values()
            .filter(|u| !u.disabled || posted.contains_key(&u.id))
            .map(|u| UserActivity {
                login: u.login.clone(),
                display_name: u.display_name.clone(),
                messages: posted.get(&u.id).copied().unwrap_or(0),
            })
            .collect();
        drop(cat);

        let mut most_rooms: Vec<RoomActivity> = rooms.iter().filter(|r| r.messages > 0).cloned().collect();
        most_rooms.sort_by(|a, b| b.messages.cmp(&a.messages).then_with(|| a.name.cmp(&b.name)));
        most_rooms.truncate(top);
        let mut least_rooms = rooms.clone();
        least_rooms.sort_by(|a, b| a.messages.cmp(&b.messages).then_with(|| a.name.cmp(&b.name)));
        least_rooms.truncate(top);
        let mut inactive: Vec<RoomActivity> = rooms
            .iter()
            .filter(|r| match (r.last_post, inactive_since) {
                (None, _) => true,
                (Some(last), Some(since)) => last < since,
                (Some(_), None) => false,
            })
            .cloned()
            .collect();
        inactive.sort_by(|a, b| a.last_post.cmp(&b.last_post).then_with(|| a.name.cmp(&b.name)));

        let mut least_users: Vec<UserActivity> = users.clone();
        least_users.sort_by(|a, b| a.messages.cmp(&b.messages).then_with(|| a.login.cmp(&b.login)));
        least_users.truncate(top);
        users.retain(|u| u.messages > 0);
        users.sort_by(|a, b| b.messages.cmp(&a.messages).then_with(|| a.login.cmp(&b.login)));
        let users_active = users.len() as u64;
        users.truncate(top);

        let mut weeks: BTreeMap<i64, u64> = BTreeMap::new();
        let mut months: BTreeMap<(i64, i64), u64> = BTreeMap::new();
        for &(day, n) in &figures.days {
            // 1970-01-01 was a Thursday: Monday is 3 days before.
            *weeks.entry(day - (day + 3).rem_euclid(7)).or_default() += n;
            let (y, m, _) = civil_from_days(day);
            *months.entry((y, m)).or_default() += n;
        }
        let totals = UsageTotals {
            messages: figures.days.iter().map(|d| d.1).sum(),
            rooms: rooms.len() as u64,
            rooms_enabled: rooms.iter().filter(|r| !r.disabled).count() as u64,
            rooms_active: rooms.iter().filter(|r| r.messages > 0).count() as u64,
            users: self.cat().users.len() as u64,
            users_active,
        };
        Ok(UsageReport {
            since: q.since,
            until,
            inactive_since,
            totals,
            most_active_rooms: most_rooms,
            least_active_rooms: least_rooms,
            most_active_users: users,
            least_active_users: least_users,
            inactive_rooms: inactive,
            per_day: figures.days.iter().map(|&(d, n)| PeriodCount { period: day_name(d), messages: n }).collect(),
            per_week: weeks.into_iter().map(|(d, n)| PeriodCount { period: day_name(d), messages: n }).collect(),
            per_month: months
                .into_iter()
                .map(|((y, m), n)| PeriodCount { period: format!("{y:04}-{m:02}"), messages: n })
                .collect(),
        })
    }
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01).
fn day_name(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day number (H. Hinnant's algorithm).
pub fn civil_from_days(day: i64) -> (i64, i64, i64) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}
