//! The usage report (the original's ChatUsageReport resource-kit tool).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// What the usage report covers: posts in `[since, until]` (ms since 1970, both inclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Start of the period, inclusive (default: the beginning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// End of the period, inclusive (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    /// Length of each most/least active list, 1–500 (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 500)]
    pub top: Option<u32>,
    /// Rooms with no post since this time are listed as inactive (default: `since`, else
    /// rooms that have no message at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_since: Option<i64>,
}

/// Activity of one room in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoomActivity {
    pub id: i64,
    pub name: String,
    pub category: String,
    pub disabled: bool,
    /// Messages posted in the period (that the room still keeps).
    pub messages: u64,
    /// Time of the room's latest kept message, at any time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_post: Option<i64>,
}

/// Activity of one user in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserActivity {
    pub login: String,
    pub display_name: String,
    /// Messages posted in the period (that the rooms still keep).
    pub messages: u64,
}

/// Messages posted in one day, week or month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeriodCount {
    /// `YYYY-MM-DD` (a day, or the Monday starting a week) or `YYYY-MM` (a month), UTC.
    pub period: String,
    pub messages: u64,
}

/// Totals of the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsageTotals {
    /// Messages posted in the period.
    pub messages: u64,
    pub rooms: u64,
    pub rooms_enabled: u64,
    /// Rooms with at least one message in the period.
    pub rooms_active: u64,
    pub users: u64,
    /// Users who posted in the period.
    pub users_active: u64,
}

/// The usage report: totals, the most and least active rooms and users, inactive rooms, and
/// posts per day, week and month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsageReport {
    /// The period as answered (`until` filled in with the time of the report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    pub until: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_since: Option<i64>,
    pub totals: UsageTotals,
    /// Most messages first (ties: by name); rooms without a message in the period are left out.
    pub most_active_rooms: Vec<RoomActivity>,
    /// Fewest messages first (ties: by name); every room counts, the silent ones too.
    pub least_active_rooms: Vec<RoomActivity>,
    /// Most messages first (ties: by login); users who did not post are left out.
    pub most_active_users: Vec<UserActivity>,
    /// Fewest messages first (ties: by login); enabled users, the silent ones too.
    pub least_active_users: Vec<UserActivity>,
    /// Rooms with no post since `inactive_since` (never posted to: first), oldest activity first.
    pub inactive_rooms: Vec<RoomActivity>,
    /// Days with posts in the period, oldest first (days without posts are left out).
    pub per_day: Vec<PeriodCount>,
    /// ISO weeks (starting Monday) with posts, oldest first.
    pub per_week: Vec<PeriodCount>,
    /// Months with posts, oldest first.
    pub per_month: Vec<PeriodCount>,
}
