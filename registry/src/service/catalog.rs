//! Services and groups: written to the database first (it is what survives), then mirrored
//! into coord so every node's view — discovery settings, register tokens — follows at once.

use keel_clog::Context;

use super::Registry;
use super::instances::encode;
use crate::keys::{group_key, service_key};
use crate::{Error, Group, GroupSettings, Page, Result, Service, ServiceId, ServiceSettings};

impl Registry {
    /// Creates a service (and its group when new).
    pub async fn create_service(
        &self,
        ctx: &Context,
        id: &ServiceId,
        settings: &ServiceSettings,
    ) -> Result<Service> {
        id.validate()?;
        settings.validate()?;
        let service = self.store.create_service(ctx, id, settings).await?;
        self.mirror_service(ctx, &service).await?;
        Ok(service)
    }

    /// A service's settings.
    pub async fn get_service(&self, ctx: &Context, id: &ServiceId) -> Result<Service> {
        id.validate()?;
        self.store.get_service(ctx, id).await
    }

    /// Changes a service's settings (fields left out keep their value).
    pub async fn update_service(
        &self,
        ctx: &Context,
        id: &ServiceId,
        settings: &ServiceSettings,
    ) -> Result<Service> {
        id.validate()?;
        settings.validate()?;
        let service = self.store.update_service(ctx, id, settings).await?;
        self.mirror_service(ctx, &service).await?;
        Ok(service)
    }

    /// Deletes a service that has no instances left.
    pub async fn delete_service(&self, ctx: &Context, id: &ServiceId) -> Result<()> {
        id.validate()?;
        let live = {
            let state = self.view.read();
            state.services.get(id).map_or(0, |s| s.instances.len())
        };
        if live > 0 {
            return Err(Error::Conflict(format!(
                "service {:?} still has {live} instance(s); deregister them first",
                id.service
            )));
        }
        self.store.delete_service(ctx, id).await?;
        self.coord.delete(ctx, &service_key(id)).await?;
        Ok(())
    }

    /// A page of a tenant's services, optionally of one group.
    pub async fn list_services(
        &self,
        ctx: &Context,
        tenant: &str,
        group: Option<&str>,
        page: u32,
        size: u32,
    ) -> Result<Page<Service>> {
        crate::validate_name("tenant", tenant)?;
        if let Some(g) = group {
            crate::validate_name("groupName", g)?;
        }
        self.store
            .list_services(ctx, tenant, group, page, size)
            .await
    }

    /// Creates a group.
    pub async fn create_group(
        &self,
        ctx: &Context,
        tenant: &str,
        name: &str,
        settings: &GroupSettings,
    ) -> Result<Group> {
        crate::validate_name("tenant", tenant)?;
        crate::validate_name("group", name)?;
        settings.validate()?;
        let group = self.store.create_group(ctx, tenant, name, settings).await?;
        self.mirror_group(ctx, &group).await?;
        Ok(group)
    }

    /// A group.
    pub async fn get_group(&self, ctx: &Context, tenant: &str, name: &str) -> Result<Group> {
        crate::validate_name("group", name)?;
        self.store.get_group(ctx, tenant, name).await
    }

    /// Changes a group's description or register tokens.
    pub async fn update_group(
        &self,
        ctx: &Context,
        tenant: &str,
        name: &str,
        settings: &GroupSettings,
    ) -> Result<Group> {
        crate::validate_name("group", name)?;
        settings.validate()?;
        let group = self.store.update_group(ctx, tenant, name, settings).await?;
        self.mirror_group(ctx, &group).await?;
        Ok(group)
    }

    /// Deletes a group without services.
    pub async fn delete_group(&self, ctx: &Context, tenant: &str, name: &str) -> Result<()> {
        crate::validate_name("group", name)?;
        self.store.delete_group(ctx, tenant, name).await?;
        self.coord.delete(ctx, &group_key(tenant, name)).await?;
        Ok(())
    }

    /// A page of a tenant's groups.
    pub async fn list_groups(
        &self,
        ctx: &Context,
        tenant: &str,
        page: u32,
        size: u32,
    ) -> Result<Page<Group>> {
        crate::validate_name("tenant", tenant)?;
        self.store.list_groups(ctx, tenant, page, size).await
    }

    pub(super) async fn mirror_service(&self, ctx: &Context, service: &Service) -> Result<()> {
        let revision = self
            .coord
            .put(ctx, &service_key(&service.id), encode(service)?, None)
            .await?;
        self.view.caught_up(revision, super::READ_YOUR_WRITE).await;
        Ok(())
    }

    async fn mirror_group(&self, ctx: &Context, group: &Group) -> Result<()> {
        let revision = self
            .coord
            .put(
                ctx,
                &group_key(&group.tenant, &group.name),
                group_record(group)?,
                None,
            )
            .await?;
        self.view.caught_up(revision, super::READ_YOUR_WRITE).await;
        Ok(())
    }
}

/// A group as the views need it: with its register tokens (the API never shows them, so
/// `Group`'s own serialization leaves them out).
pub(super) fn group_record(group: &Group) -> Result<Vec<u8>> {
    let mut value = serde_json::to_value(group)
        .map_err(|e| Error::Invalid(format!("cannot encode the group: {e}")))?;
    value["registerTokens"] = serde_json::json!(group.register_tokens);
    encode(&value)
}
