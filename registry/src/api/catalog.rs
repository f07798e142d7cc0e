//! `/api/v1/services` and `/api/v1/groups`: the settings of services and groups.

use std::sync::Arc;

use axum::extract::{Path, State};
use keel_clog::Context;
use serde::{Deserialize, Serialize};

use super::discovery::service_id;
use super::envelope::{ApiResult, Body, Caller, Pairs, ok};
use crate::{DEFAULT_GROUP, GroupSettings, Page, Registry, Service, ServiceId, ServiceSettings};

/// A new service: its name and group, and any settings.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewService {
    service_name: String,
    #[serde(default)]
    group_name: Option<String>,
    #[serde(flatten)]
    settings: ServiceSettings,
}

/// A new group.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewGroup {
    name: String,
    #[serde(flatten)]
    settings: GroupSettings,
}

/// A service in a listing, with how many instances it has now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceSummary {
    #[serde(flatten)]
    service: Service,
    instance_count: usize,
    healthy_instance_count: usize,
}

fn page_params(pairs: &Pairs) -> Result<(u32, u32), super::envelope::ApiError> {
    Ok((pairs.number("page", 1)?, pairs.number("size", 20)?))
}

async fn services_page(
    registry: &Registry,
    caller: &Caller,
    group: Option<&str>,
    pairs: &Pairs,
) -> ApiResult {
    let (page, size) = page_params(pairs)?;
    let listed = registry
        .list_services(&Context::new(), &caller.tenant, group, page, size)
        .await?;
    let counts = registry.instance_counts(&caller.tenant);
    let items = listed
        .items
        .into_iter()
        .map(|service| {
            let (n, healthy) = counts
                .get(&(service.id.group.clone(), service.id.service.clone()))
                .copied()
                .unwrap_or_default();
            ServiceSummary {
                service,
                instance_count: n,
                healthy_instance_count: healthy,
            }
        })
        .collect();
    Ok(ok(Page {
        items,
        total: listed.total,
        page: listed.page,
        size: listed.size,
    }))
}

/// Create a service.
#[utoipa::path(post, path = "/api/v1/services", tag = "services", request_body = NewService,
    responses((status = 200, body = Service), (status = 409, description = "it exists")))]
pub(crate) async fn create_service(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Body(new): Body<NewService>,
) -> ApiResult {
    let id = ServiceId::new(
        &caller.tenant,
        new.group_name.as_deref().unwrap_or(DEFAULT_GROUP),
        new.service_name,
    );
    Ok(ok(registry
        .create_service(&Context::new(), &id, &new.settings)
        .await?))
}

/// A page of services (`?groupName=&page=&size=`), with instance counts.
#[utoipa::path(get, path = "/api/v1/services", tag = "services",
    params(("groupName" = Option<String>, Query), ("page" = Option<u32>, Query), ("size" = Option<u32>, Query)),
    responses((status = 200, body = Page<ServiceSummary>)))]
pub(crate) async fn list_services(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    pairs: Pairs,
) -> ApiResult {
    let group = pairs.get("groupName").filter(|g| !g.is_empty());
    services_page(&registry, &caller, group, &pairs).await
}

/// A service's settings (`?groupName=`).
#[utoipa::path(get, path = "/api/v1/services/{name}", tag = "services",
    responses((status = 200, body = Service), (status = 404)))]
pub(crate) async fn get_service(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Path(name): Path<String>,
    pairs: Pairs,
) -> ApiResult {
    let id = service_id(&caller, name, &pairs);
    Ok(ok(registry.get_service(&Context::new(), &id).await?))
}

/// Change a service's settings (`?groupName=`).
#[utoipa::path(put, path = "/api/v1/services/{name}", tag = "services",
    request_body = ServiceSettings, responses((status = 200, body = Service)))]
pub(crate) async fn update_service(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Path(name): Path<String>,
    pairs: Pairs,
    Body(settings): Body<ServiceSettings>,
) -> ApiResult {
    let id = service_id(&caller, name, &pairs);
    Ok(ok(registry
        .update_service(&Context::new(), &id, &settings)
        .await?))
}

/// Delete a service without instances (`?groupName=`).
#[utoipa::path(delete, path = "/api/v1/services/{name}", tag = "services",
    responses((status = 200), (status = 409, description = "it still has instances")))]
pub(crate) async fn delete_service(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Path(name): Path<String>,
    pairs: Pairs,
) -> ApiResult {
    let id = service_id(&caller, name, &pairs);
    registry.delete_service(&Context::new(), &id).await?;
    Ok(ok(serde_json::Value::Null))
}

/// Create a group.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = NewGroup,
    responses((status = 200, body = crate::Group), (status = 409)))]
pub(crate) async fn create_group(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Body(new): Body<NewGroup>,
) -> ApiResult {
    Ok(ok(registry
        .create_group(&Context::new(), &caller.tenant, &new.name, &new.settings)
        .await?))
}

/// A page of groups.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups",
    responses((status = 200, body = Page<crate::Group>)))]
pub(crate) async fn list_groups(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    pairs: Pairs,
) -> ApiResult {
    let (page, size) = page_params(&pairs)?;
    Ok(ok(registry
        .list_groups(&Context::new(), &caller.tenant, page, size)
        .await?))
}

/// A group.
#[utoipa::path(get, path = "/api/v1/groups/{group}", tag = "groups",
    responses((status = 200, body = crate::Group), (status = 404)))]
pub(crate) async fn get_group(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Path(group): Path<String>,
) -> ApiResult {
    Ok(ok(registry
        .get_group(&Context::new(), &caller.tenant, &group)
        .await?))
}

/// Change a group's description or register tokens.
#[utoipa::path(put, path = "/api/v1/groups/{group}", tag = "groups",
    request_body = GroupSettings, responses((status = 200, body = crate::Group)))]
pub(crate) async fn update_group(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Path(group): Path<String>,
    Body(settings): Body<GroupSettings>,
) -> ApiResult {
    Ok(ok(registry
        .update_group(&Context::new(), &caller.tenant, &group, &settings)
        .await?))
}

/// Delete a group without services.
#[utoipa::path(delete, path = "/api/v1/groups/{group}", tag = "groups",
    responses((status = 200), (status = 409, description = "it still has services")))]
pub(crate) async fn delete_group(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Path(group): Path<String>,
) -> ApiResult {
    registry
        .delete_group(&Context::new(), &caller.tenant, &group)
        .await?;
    Ok(ok(serde_json::Value::Null))
}

/// The services of a group.
#[utoipa::path(get, path = "/api/v1/groups/{group}/services", tag = "groups",
    responses((status = 200, body = Page<ServiceSummary>)))]
pub(crate) async fn group_services(
    State(registry): State<Arc<Registry>>,
    caller: Caller,
    Path(group): Path<String>,
    pairs: Pairs,
) -> ApiResult {
    registry
        .get_group(&Context::new(), &caller.tenant, &group)
        .await?;
    services_page(&registry, &caller, Some(&group), &pairs).await
}
