//! Wire forms of domain objects. One place builds each view so every interface shows the same.

use longhall_types::api::{AddinView, CategoryView, ConfigView, MessageView, PolicyView, RoomView, UserView};

use crate::catalog::Catalog;
use crate::live::Hub;
use crate::model::*;
use crate::rules::{self, Access};

pub fn user_view(u: &User) -> UserView {
    UserView {
        id: u.id,
        login: u.login.clone(),
        display_name: u.display_name.clone(),
        email: u.email.clone(),
        site: u.site.clone(),
        disabled: u.disabled,
        admin: u.admin,
        policy: u.policy.clone(),
    }
}

pub fn category_view(cat: &Catalog, c: &Category) -> CategoryView {
    CategoryView {
        id: c.id,
        name: c.name.clone(),
        description: c.description.clone(),
        invitations: c.invitations,
        file_upload: c.file_upload,
        chat_history: c.chat_history,
        allowed_members: cat.written_list(&c.allowed),
        denied_members: cat.written_list(&c.denied),
        creators: cat.written_list(&c.creators),
    }
}

pub fn addin_view(a: &Addin) -> AddinView {
    AddinView { id: a.id, name: a.name.clone(), url: a.url.clone() }
}

pub fn policy_view(p: &Policy) -> PolicyView {
    PolicyView {
        scope: p.scope.to_string(),
        enable_persistent_chat: p.enable_persistent_chat,
        description: p.description.clone(),
    }
}

pub fn config_view(c: &Config) -> ConfigView {
    ConfigView {
        scope: c.scope.to_string(),
        default_chat_history: c.default_chat_history,
        max_file_size_kb: c.max_file_size_kb,
        participant_update_limit: c.participant_update_limit,
        room_management_url: c.room_management_url.clone(),
    }
}

/// A room as `access` may see it: lists only for those who manage it.
pub fn room_view(cat: &Catalog, hub: &Hub, room: &Room, access: &Access) -> RoomView {
    let category = cat.categories.get(&room.category);
    let lists = access.can_manage();
    RoomView {
        id: room.id,
        name: room.name.clone(),
        description: room.description.clone(),
        category_id: room.category,
        category: category.map(|c| c.name.clone()).unwrap_or_default(),
        privacy: room.privacy,
        room_type: room.room_type,
        invitations: room.invitations,
        invitations_active: category.is_some_and(|c| rules::invitations_active(c, room)),
        file_upload: category.is_some_and(|c| c.file_upload),
        chat_history: category.is_none_or(|c| c.chat_history),
        addin: room.addin.and_then(|id| cat.addins.get(&id)).map(addin_view),
        disabled: room.disabled,
        participant_count: hub.participant_count(room.id),
        last_seq: hub.last_seq(room.id),
        roles: access.roles(),
        members: lists.then(|| cat.written_list(&room.members)),
        managers: lists.then(|| cat.written_list(&room.managers)),
        presenters: lists.then(|| cat.written_list(&room.presenters)),
    }
}

pub fn message_view(cat: &Catalog, m: StoredMessage) -> MessageView {
    let author = cat.author(m.author);
    MessageView {
        room: m.room,
        seq: m.seq,
        ts: m.ts,
        author: author.map(|u| u.login.clone()).unwrap_or_default(),
        author_name: author.map(|u| u.display_name.clone()).unwrap_or_default(),
        text: m.text,
        alert: m.alert,
        story_title: m.story_title,
        file: m.file,
        replaced: m.replaced,
    }
}

/// The compliance configuration as administrators see it; `default_dir` stands in for an
/// output folder that was never set.
pub fn compliance_config_view(c: &ComplianceConfig, default_dir: &str) -> longhall_types::api::ComplianceConfigView {
    longhall_types::api::ComplianceConfigView {
        enabled: c.enabled,
        adapter: c.adapter.clone(),
        output_dir: c.output_dir.clone().unwrap_or_else(|| default_dir.to_owned()),
        run_interval_secs: c.run_interval_secs,
        one_chat_room_per_output_file: c.one_chat_room_per_output_file,
        add_chat_room_details: c.add_chat_room_details,
        add_user_details: c.add_user_details,
        create_file_attachments_manifest: c.create_file_attachments_manifest,
        custom_configuration: c.custom_configuration.clone(),
        command: c.command.clone(),
    }
}

pub fn compliance_run_view(r: &ComplianceRun) -> longhall_types::api::ComplianceRunView {
    longhall_types::api::ComplianceRunView {
        id: r.id,
        server: r.server.clone(),
        started: r.started,
        finished: r.finished,
        batch: r.batch_id.clone(),
        first_event: r.first_event,
        last_event: r.last_event,
        events: r.events,
        files: r.files,
        recovered: r.recovered,
        error: r.error.clone(),
    }
}
