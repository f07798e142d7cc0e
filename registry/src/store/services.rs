//! Services: create (with their group), ensure, read, update, delete (refused while persistent
//! instances remain), list.

use keel_clog::Context;
use keel_db::Tx;

use super::rows::{ServiceRow, encode_health_check, encode_metadata, service_columns};
use super::{
    RegistryStore, conflict_on_unique, groups, is_unique_violation, page_of, service_missing,
    window,
};
use crate::{Error, Page, Result, Service, ServiceId, ServiceSettings, now_millis};

/// Locks the service's row until the transaction ends and returns it, or `None` when there
/// is no such service (also when a concurrent delete committed while this waited).
pub(super) async fn lock(
    tx: &mut Tx<'_>,
    ctx: &Context,
    id: &ServiceId,
) -> Result<Option<ServiceRow>> {
    let d = tx.dialect();
    // SQLite has no FOR UPDATE: its transactions already hold the write lock.
    let sql = if d.for_update().is_empty() {
        d.sql(concat!(
            "SELECT ",
            service_columns!(),
            " FROM reg_services WHERE tenant = ? AND group_name = ? AND name = ?"
        ))
    } else {
        d.sql(concat!(
            "SELECT ",
            service_columns!(),
            " FROM reg_services WHERE tenant = ? AND group_name = ? AND name = ? FOR UPDATE"
        ))
    };
    Ok(tx
        .fetch_optional(
            ctx,
            sqlx::query_as(sql)
                .bind(id.tenant.as_str())
                .bind(id.group.as_str())
                .bind(id.service.as_str()),
        )
        .await?)
}

/// A new service with `settings` (defaults where `None`), created now.
fn new_service(id: &ServiceId, settings: &ServiceSettings) -> Service {
    let now = now_millis();
    Service {
        id: id.clone(),
        metadata: settings.metadata.clone().unwrap_or_default(),
        protect_threshold: settings.protect_threshold.unwrap_or(0.0),
        default_health_check: settings.default_health_check.clone(),
        load_balance: settings.load_balance.unwrap_or_default(),
        created_at: now,
        updated_at: now,
    }
}

/// Inserts `service` into group `group_id`. A unique violation (the service exists) is left
/// for the caller to word.
async fn insert(tx: &mut Tx<'_>, ctx: &Context, group_id: i64, service: &Service) -> Result<()> {
    let sql = tx.dialect().insert(
        "reg_services",
        &[
            "group_id",
            "tenant",
            "group_name",
            "name",
            "metadata",
            "protect_threshold",
            "default_health_check",
            "load_balance",
            "created_at",
            "updated_at",
        ],
        None,
    )?;
    tx.execute(
        ctx,
        sqlx::query(sql)
            .bind(group_id)
            .bind(service.id.tenant.as_str())
            .bind(service.id.group.as_str())
            .bind(service.id.service.as_str())
            .bind(encode_metadata(&service.metadata)?)
            .bind(service.protect_threshold)
            .bind(encode_health_check(service.default_health_check.as_ref())?)
            .bind(service.load_balance.as_str())
            .bind(service.created_at)
            .bind(service.updated_at),
    )
    .await?;
    Ok(())
}

impl RegistryStore {
    /// Creates a service, and its group when the tenant has none of that name, in one
    /// transaction. Conflict when the service exists.
    pub async fn create_service(
        &self,
        ctx: &Context,
        id: &ServiceId,
        settings: &ServiceSettings,
    ) -> Result<Service> {
        id.validate()?;
        settings.validate()?;
        let service = new_service(id, settings);
        let exists = || format!("service {id} already exists");
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    // The group lock serializes creators of services in the group, so the
                    // check below is exact; the unique key still has the last word.
                    let group_id = groups::ensure_locked(tx, ctx, &id.tenant, &id.group).await?;
                    if lock(tx, ctx, id).await?.is_some() {
                        return Err(Error::Conflict(exists()));
                    }
                    insert(tx, ctx, group_id, &service)
                        .await
                        .map_err(|e| conflict_on_unique(e, exists))?;
                    Ok(service)
                })
            })
            .await
    }

    /// The service, created with default settings (and its group) when absent; `true` when
    /// this call created it. Concurrent callers all succeed and exactly one gets `true`.
    pub async fn ensure_service(&self, ctx: &Context, id: &ServiceId) -> Result<(Service, bool)> {
        id.validate()?;
        let outcome = self
            .db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let group_id = groups::ensure_locked(tx, ctx, &id.tenant, &id.group).await?;
                    if let Some(row) = lock(tx, ctx, id).await? {
                        return Ok((Service::try_from(row)?, false));
                    }
                    let service = new_service(id, &ServiceSettings::default());
                    insert(tx, ctx, group_id, &service).await?;
                    Ok((service, true))
                })
            })
            .await;
        match outcome {
            // Cannot happen under the group lock, but if the unique key ever decides instead,
            // the other creator won and the service is there to read.
            Err(err) if is_unique_violation(&err) => Ok((self.get_service(ctx, id).await?, false)),
            other => other,
        }
    }

    /// One service; NotFound (`service t/g/s does not exist`) when there is none.
    pub async fn get_service(&self, ctx: &Context, id: &ServiceId) -> Result<Service> {
        let sql = self.db.dialect().sql(concat!(
            "SELECT ",
            service_columns!(),
            " FROM reg_services WHERE tenant = ? AND group_name = ? AND name = ?"
        ));
        let row: Option<ServiceRow> = self
            .db
            .fetch_optional(
                ctx,
                sqlx::query_as(sql)
                    .bind(id.tenant.as_str())
                    .bind(id.group.as_str())
                    .bind(id.service.as_str()),
            )
            .await?;
        row.ok_or_else(|| service_missing(id))?.try_into()
    }

    /// Changes the settings that are `Some` (the others keep their value) and returns the
    /// service; NotFound when there is none.
    pub async fn update_service(
        &self,
        ctx: &Context,
        id: &ServiceId,
        settings: &ServiceSettings,
    ) -> Result<Service> {
        settings.validate()?;
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let row = lock(tx, ctx, id)
                        .await?
                        .ok_or_else(|| service_missing(id))?;
                    let row_id = row.id;
                    let mut service = Service::try_from(row)?;
                    if let Some(metadata) = &settings.metadata {
                        service.metadata.clone_from(metadata);
                    }
                    if let Some(threshold) = settings.protect_threshold {
                        service.protect_threshold = threshold;
                    }
                    if let Some(check) = &settings.default_health_check {
                        service.default_health_check = Some(check.clone());
                    }
                    if let Some(load_balance) = settings.load_balance {
                        service.load_balance = load_balance;
                    }
                    service.updated_at = now_millis();
                    let sql = tx.dialect().sql(
                        "UPDATE reg_services SET metadata = ?, protect_threshold = ?, \
                         default_health_check = ?, load_balance = ?, updated_at = ? WHERE id = ?",
                    );
                    tx.execute(
                        ctx,
                        sqlx::query(sql)
                            .bind(encode_metadata(&service.metadata)?)
                            .bind(service.protect_threshold)
                            .bind(encode_health_check(service.default_health_check.as_ref())?)
                            .bind(service.load_balance.as_str())
                            .bind(service.updated_at)
                            .bind(row_id),
                    )
                    .await?;
                    Ok(service)
                })
            })
            .await
    }

    /// Deletes a service (its group stays). NotFound when there is none; Conflict while
    /// persistent instances of it remain (delete them first).
    pub async fn delete_service(&self, ctx: &Context, id: &ServiceId) -> Result<()> {
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    // Instance writes lock the service too, so none appears between the count
                    // and the delete.
                    let row = lock(tx, ctx, id)
                        .await?
                        .ok_or_else(|| service_missing(id))?;
                    let d = tx.dialect();
                    let count = d.sql("SELECT COUNT(*) FROM reg_instances WHERE service_id = ?");
                    let delete = d.sql("DELETE FROM reg_services WHERE id = ?");
                    let (instances,): (i64,) = tx
                        .fetch_one(ctx, sqlx::query_as(count).bind(row.id))
                        .await?;
                    if instances > 0 {
                        return Err(Error::Conflict(format!(
                            "service {id} still has {instances} persistent instance(s); delete them first"
                        )));
                    }
                    tx.execute(ctx, sqlx::query(delete).bind(row.id)).await?;
                    Ok(())
                })
            })
            .await
    }

    /// One page (from 1, 1 to 1000 entries) of the tenant's services, of one group or of all,
    /// ordered by group and name.
    pub async fn list_services(
        &self,
        ctx: &Context,
        tenant: &str,
        group: Option<&str>,
        page: u32,
        size: u32,
    ) -> Result<Page<Service>> {
        let (limit, offset) = window(page, size)?;
        let d = self.db.dialect();
        let (total, rows): (i64, Vec<ServiceRow>) = match group {
            Some(group) => {
                let count =
                    d.sql("SELECT COUNT(*) FROM reg_services WHERE tenant = ? AND group_name = ?");
                let select = d.sql(concat!(
                    "SELECT ",
                    service_columns!(),
                    " FROM reg_services WHERE tenant = ? AND group_name = ? \
                     ORDER BY group_name, name LIMIT ? OFFSET ?"
                ));
                let (total,): (i64,) = self
                    .db
                    .fetch_one(ctx, sqlx::query_as(count).bind(tenant).bind(group))
                    .await?;
                let rows = self
                    .db
                    .fetch_all(
                        ctx,
                        sqlx::query_as(select)
                            .bind(tenant)
                            .bind(group)
                            .bind(limit)
                            .bind(offset),
                    )
                    .await?;
                (total, rows)
            }
            None => {
                let count = d.sql("SELECT COUNT(*) FROM reg_services WHERE tenant = ?");
                let select = d.sql(concat!(
                    "SELECT ",
                    service_columns!(),
                    " FROM reg_services WHERE tenant = ? \
                     ORDER BY group_name, name LIMIT ? OFFSET ?"
                ));
                let (total,): (i64,) = self
                    .db
                    .fetch_one(ctx, sqlx::query_as(count).bind(tenant))
                    .await?;
                let rows = self
                    .db
                    .fetch_all(
                        ctx,
                        sqlx::query_as(select).bind(tenant).bind(limit).bind(offset),
                    )
                    .await?;
                (total, rows)
            }
        };
        let items = rows
            .into_iter()
            .map(Service::try_from)
            .collect::<Result<_>>()?;
        Ok(page_of(items, total, page, size))
    }

    /// Every service of every tenant, ordered by tenant, group and name (a node's start-up).
    pub async fn all_services(&self, ctx: &Context) -> Result<Vec<Service>> {
        let sql = self.db.dialect().sql(concat!(
            "SELECT ",
            service_columns!(),
            " FROM reg_services ORDER BY tenant, group_name, name"
        ));
        let rows: Vec<ServiceRow> = self.db.fetch_all(ctx, sqlx::query_as(sql)).await?;
        rows.into_iter().map(Service::try_from).collect()
    }
}
