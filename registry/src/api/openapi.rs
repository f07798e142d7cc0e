//! The registry's OpenAPI document, generated from the handlers' `#[utoipa::path]`
//! annotations; `keel serve` merges it with the config center's at `/api/v1/openapi.json`.

use utoipa::OpenApi;

use super::{catalog, discovery, instances, stats};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "keel registry",
        description = "Service registry and discovery. Every answer is JSON in the envelope {\"code\":0,\"message\":\"success\",\"data\":...}. The tenant comes from the X-Tenant-Id header (default `default`); a group's register tokens are sent as `Authorization: Bearer <token>`."
    ),
    paths(
        instances::register, instances::register_batch, instances::get_instance,
        instances::heartbeat, instances::set_health, instances::set_status, instances::deregister,
        discovery::instances, discovery::events,
        catalog::create_service, catalog::list_services, catalog::get_service,
        catalog::update_service, catalog::delete_service,
        catalog::create_group, catalog::list_groups, catalog::get_group, catalog::update_group,
        catalog::delete_group, catalog::group_services,
        stats::all, stats::instances, stats::health,
    ),
    components(schemas(crate::ChangeEvent, crate::HealthCheck, crate::Instance)),
    tags(
        (name = "instances", description = "Register, heartbeat, health, status, deregister"),
        (name = "discovery", description = "Instance lists, long polls and change streams"),
        (name = "services"), (name = "groups"), (name = "stats"),
    )
)]
struct ApiDoc;

/// The registry's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
