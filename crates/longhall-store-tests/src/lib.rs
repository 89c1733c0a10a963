//! The conformance suite every Longhall store backend runs unchanged.
//!
//! The `Store` trait's documentation states the rules; the cases here pin them down, so a
//! second backend (PostgreSQL) behaves exactly like the first. A backend runs the suite from
//! one integration test file:
//!
//! ```text
//! // tests/conformance.rs of a backend crate (needs tokio with `macros` and `rt-multi-thread`)
//! async fn fresh() -> (MyStore, Guard) { /* an empty store, and whatever keeps it alive */ }
//! longhall_store_tests::conformance_suite!(fresh);
//! ```
//!
//! This expands to one `#[tokio::test]` per case, named after it, so a failure says which
//! rule broke. The guard (a temporary directory, a scratch database) is dropped after the
//! case. `file_store_suite!` does the same for `FileStore` implementations.
//!
//! Rules the cases settle where the trait's comments leave room:
//! - an update or delete of a missing catalog object (user, group, category, room, add-in) is
//!   `NotFound`; deleting an absent policy or configuration scope succeeds;
//! - names compare case-insensitively with Unicode case (`Café` clashes with `CAFÉ`); this
//!   holds for category/room names, add-in names, group names and user logins;
//! - deleting an add-in clears it from the rooms that used it;
//! - deleting a category that still holds rooms fails (the variant is not pinned);
//! - ids are never reused after a delete;
//! - `replace_messages` skips sequence numbers that have no kept message;
//! - a user holds at most one invitation per room: inviting again renumbers it;
//! - principal lists keep their order;
//! - the compliance run history returns every field of a run as written, newest first;
//! - an audit record is written only with a change that succeeds, every field as given (the new
//!   id of an insert in `object_id` and `after.id`); `object` selects by name or `<noun>:<id>`;
//! - a removed user leaves the catalog's users for its removed users (what it posted keeps its
//!   author), loses its tokens, follows, invitations, password and list entries, and its login
//!   can be taken by a new account.
//! - an imported user has no password; an import records no compliance events.

pub mod cases;
pub mod export_cases;
pub mod file_cases;
pub mod support;

/// Expands to one `#[tokio::test]` per store case. `$make` is a function or closure taking no
/// arguments and returning a future of `(store, guard)`, a fresh empty store each call.
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::__expand_cases! { cases; $make;
            catalog_starts_empty,
            users_round_trip,
            user_logins_are_unique,
            groups_round_trip,
            categories_and_rooms_round_trip,
            category_and_room_names_share_one_namespace,
            addins_round_trip,
            delete_group_removes_its_list_entries,
            delete_category_only_when_empty,
            delete_room_removes_its_content,
            ids_are_never_reused,
            policies_and_configs_put_and_delete,
            meta_get_and_put,
            tokens_insert_find_delete_list,
            audit_records_are_written_with_their_change,
            remove_user_keeps_the_row_for_attribution,
            commit_posts_assigns_dense_seqs_in_batch_order,
            failed_post_batch_changes_nothing,
            message_fields_round_trip,
            unkept_posts_get_a_seq_but_are_not_returned,
            every_post_gets_a_chat_compliance_event,
            history_paging,
            messages_around_a_time,
            search_finds_substrings_case_insensitively,
            search_finds_cjk_and_other_scripts,
            search_short_queries,
            search_short_queries_in_any_script,
            search_follows_replacements_and_deletions,
            search_filters_rooms_author_dates_and_limit,
            search_ignores_query_syntax,
            search_treats_wildcard_characters_literally,
            replace_messages_changes_history_search_and_archive,
            clear_room_deletes_up_to_a_time_and_keeps_seqs,
            clear_room_in_batches_takes_the_oldest_first,
            scan_messages_walks_a_room_with_filters,
            delete_messages_removes_outright_and_records_originals,
            room_content_size_follows_posts_replacements_and_deletions,
            usage_counts_rooms_authors_and_days,
            follows_and_read_positions,
            invitations_have_per_user_ids,
            a_dismissed_invitation_is_gone,
            alerts_are_counted_above_a_read_position,
            files_insert_get_and_upload_event,
            record_compliance_keeps_order_and_pages,
            open_participations_follow_join_and_part_events,
            snapshot_is_whole_and_of_one_moment,
            missing_references_are_errors,
            compliance_config_round_trips,
            compliance_lease_is_exclusive_and_expires,
            compliance_batches_follow_the_watermark,
            compliance_publish_intent_fences_the_commit,
            compliance_runs_are_listed_newest_first,
            prune_deletes_only_processed_events,
            concurrent_posts_get_dense_seqs_and_ordered_records,
            a_failing_write_among_concurrent_ones_fails_alone,
        }
        $crate::__expand_cases! { export_cases; $make;
            import_batch_puts_objects_at_their_ids,
        }
        $crate::__expand_pair_cases! { export_cases; $make;
            export_import_round_trip,
        }
    };
}

/// Cases that take two fresh stores (a source and a destination).
#[doc(hidden)]
#[macro_export]
macro_rules! __expand_pair_cases {
    ($module:ident; $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (a, guard_a) = ($make)().await;
                let (b, guard_b) = ($make)().await;
                $crate::$module::$case(&a, &b).await;
                drop((a, b));
                drop((guard_a, guard_b));
            }
        )*
    };
}

/// Expands to one `#[tokio::test]` per `FileStore` case; `$make` as for `conformance_suite!`.
#[macro_export]
macro_rules! file_store_suite {
    ($make:expr) => {
        $crate::__expand_cases! { file_cases; $make;
            write_then_read_back,
            exactly_the_limit_is_accepted,
            too_large_keeps_nothing,
            failing_body_keeps_nothing,
            remove_deletes_the_object,
            unsafe_keys_are_refused,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __expand_cases {
    ($module:ident; $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (subject, guard) = ($make)().await;
                $crate::$module::$case(&subject).await;
                drop(subject);
                drop(guard);
            }
        )*
    };
}
