//! Every HTTP route, collected with its OpenAPI description in one place.

pub mod account;
pub mod addins;
pub mod audit;
pub mod backup;
pub mod categories;
pub mod chat_config;
pub mod compliance;
pub mod files;
pub mod groups;
pub mod health;
pub mod messages;
pub mod metrics;
pub mod policies;
pub mod pool;
pub mod rooms;
pub mod status;
pub mod tokens;
pub mod usage;
pub mod users;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Longhall API", description = "Persistent chat rooms. See docs/api.md and docs/websocket.md."),
    modifiers(&BearerAuth),
    components(schemas(
        longhall_types::ws::ClientFrame,
        longhall_types::ws::ServerFrame,
        longhall_types::ws::JoinTarget,
    ))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API router and the OpenAPI document describing exactly its routes.
pub fn api() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(account::sign_in))
        .routes(routes!(account::sign_out))
        .routes(routes!(account::me))
        .routes(routes!(account::change_password))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(rooms::search_rooms, rooms::create_room))
        .routes(routes!(rooms::get_room, rooms::update_room, rooms::delete_room))
        .routes(routes!(rooms::participants))
        .routes(routes!(rooms::eligible))
        .routes(routes!(rooms::follow, rooms::unfollow))
        .routes(routes!(rooms::mark_read))
        .routes(routes!(rooms::followed))
        .routes(routes!(rooms::invitations))
        .routes(routes!(rooms::dismiss_invitation))
        .routes(routes!(categories::categories))
        .routes(routes!(addins::addins))
        .routes(routes!(messages::history, messages::post))
        .routes(routes!(messages::search))
        .routes(routes!(files::upload))
        .routes(routes!(files::download))
        .routes(routes!(backup::backup))
        .routes(routes!(status::status))
        .routes(routes!(pool::pool))
        .routes(routes!(pool::put_pool_state))
        .routes(routes!(pool::put_active_servers))
        .routes(routes!(pool::put_pool_settings))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user, users::update_user, users::remove_user))
        .routes(routes!(users::effective_user))
        .routes(routes!(users::list_domains))
        .routes(routes!(audit::audit))
        .routes(routes!(groups::list_groups, groups::create_group))
        .routes(routes!(groups::get_group, groups::update_group, groups::delete_group))
        .routes(routes!(groups::check_groups))
        .routes(routes!(categories::create_category))
        .routes(routes!(categories::get_category, categories::update_category, categories::delete_category))
        .routes(routes!(categories::category_eligible))
        .routes(routes!(addins::create_addin))
        .routes(routes!(addins::update_addin, addins::delete_addin))
        .routes(routes!(policies::list_policies))
        .routes(routes!(policies::put_policy, policies::delete_policy))
        .routes(routes!(chat_config::list_config))
        .routes(routes!(chat_config::put_config, chat_config::delete_config))
        .routes(routes!(messages::remove_messages))
        .routes(routes!(messages::clear_room))
        .routes(routes!(usage::usage_report))
        .routes(routes!(compliance::compliance_events))
        .routes(routes!(compliance::get_compliance_config, compliance::put_compliance_config))
        .routes(routes!(compliance::run_compliance))
        .routes(routes!(compliance::compliance_runs))
        .routes(routes!(compliance::test_stylesheet))
        .routes(routes!(crate::ws::websocket))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::metrics))
        .split_for_parts()
}
