//! Every HTTP route, collected with its OpenAPI description in one place.

pub mod account;
pub mod admin;
pub mod backup;
pub mod files;
pub mod health;
pub mod messages;
pub mod metrics;
pub mod rooms;
pub mod status;

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
        .routes(routes!(account::list_tokens, account::create_token))
        .routes(routes!(account::revoke_token))
        .routes(routes!(rooms::search_rooms, rooms::create_room))
        .routes(routes!(rooms::get_room, rooms::update_room, rooms::delete_room))
        .routes(routes!(rooms::participants))
        .routes(routes!(rooms::eligible))
        .routes(routes!(rooms::follow, rooms::unfollow))
        .routes(routes!(rooms::mark_read))
        .routes(routes!(rooms::followed))
        .routes(routes!(rooms::invitations))
        .routes(routes!(rooms::dismiss_invitation))
        .routes(routes!(rooms::categories))
        .routes(routes!(rooms::addins))
        .routes(routes!(messages::history, messages::post))
        .routes(routes!(messages::search))
        .routes(routes!(files::upload))
        .routes(routes!(files::download))
        .routes(routes!(backup::backup))
        .routes(routes!(status::status))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(admin::get_user, admin::update_user))
        .routes(routes!(admin::list_domains))
        .routes(routes!(admin::list_groups, admin::create_group))
        .routes(routes!(admin::get_group, admin::update_group, admin::delete_group))
        .routes(routes!(admin::create_category))
        .routes(routes!(admin::get_category, admin::update_category, admin::delete_category))
        .routes(routes!(admin::category_eligible))
        .routes(routes!(admin::create_addin))
        .routes(routes!(admin::update_addin, admin::delete_addin))
        .routes(routes!(admin::list_policies))
        .routes(routes!(admin::put_policy, admin::delete_policy))
        .routes(routes!(admin::list_config))
        .routes(routes!(admin::put_config, admin::delete_config))
        .routes(routes!(admin::remove_messages))
        .routes(routes!(admin::clear_room))
        .routes(routes!(admin::compliance_events))
        .routes(routes!(admin::get_compliance_config, admin::put_compliance_config))
        .routes(routes!(admin::run_compliance))
        .routes(routes!(admin::compliance_runs))
        .routes(routes!(admin::test_stylesheet))
        .routes(routes!(crate::ws::websocket))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::metrics))
        .split_for_parts()
}
