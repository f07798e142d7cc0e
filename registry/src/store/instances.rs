//! Persistent instances: put (insert or replace), read, delete, list. Each row holds the
//! whole [`Instance`] as JSON plus the columns it is looked up by.

use keel_clog::Context;

use super::rows::{decode_instance, encode_instance};
use super::{RegistryStore, service_missing, services};
use crate::{Error, Instance, Result, ServiceId, now_millis, validate_name};

/// A row of `reg_instances` as read: only the record.
#[derive(Debug, sqlx::FromRow)]
struct BodyRow {
    body: String,
}

fn decode_all(rows: Vec<BodyRow>) -> Result<Vec<Instance>> {
    rows.iter().map(|r| decode_instance(&r.body)).collect()
}

impl RegistryStore {
    /// Stores a persistent instance, replacing the one of the same tenant and instance id.
    /// NotFound (`service t/g/s does not exist`) when its service does not exist; Invalid for
    /// an ephemeral instance, which lives on a coord lease and never in the database.
    pub async fn put_instance(&self, ctx: &Context, instance: &Instance) -> Result<()> {
        if instance.ephemeral {
            return Err(Error::Invalid(format!(
                "instance {} is ephemeral: only persistent instances are stored in the database",
                instance.instance_id
            )));
        }
        let service_id = instance.service_id();
        service_id.validate()?;
        validate_name("instanceId", &instance.instance_id)?;
        let body = encode_instance(instance)?;
        let service_id = &service_id;
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    // Locking the service keeps a concurrent delete_service from counting no
                    // instances and removing it under this one.
                    let service = services::lock(tx, ctx, service_id)
                        .await?
                        .ok_or_else(|| service_missing(service_id))?;
                    let upsert = tx.dialect().upsert(
                        "reg_instances",
                        &[
                            "service_id",
                            "tenant",
                            "group_name",
                            "service_name",
                            "instance_id",
                            "body",
                            "updated_at",
                        ],
                        &["tenant", "instance_id"],
                        &[
                            "service_id",
                            "group_name",
                            "service_name",
                            "body",
                            "updated_at",
                        ],
                    )?;
                    tx.execute(
                        ctx,
                        sqlx::query(upsert)
                            .bind(service.id)
                            .bind(instance.tenant.as_str())
                            .bind(instance.group_name.as_str())
                            .bind(instance.service_name.as_str())
                            .bind(instance.instance_id.as_str())
                            .bind(body)
                            .bind(now_millis()),
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    /// The persistent instance of the tenant with this id, if there is one.
    pub async fn get_instance(
        &self,
        ctx: &Context,
        tenant: &str,
        instance_id: &str,
    ) -> Result<Option<Instance>> {
        let sql = self
            .db
            .dialect()
            .sql("SELECT body FROM reg_instances WHERE tenant = ? AND instance_id = ?");
        let row: Option<BodyRow> = self
            .db
            .fetch_optional(ctx, sqlx::query_as(sql).bind(tenant).bind(instance_id))
            .await?;
        row.map(|r| decode_instance(&r.body)).transpose()
    }

    /// Deletes the persistent instance of the tenant with this id; `false` when there was
    /// none.
    pub async fn delete_instance(
        &self,
        ctx: &Context,
        tenant: &str,
        instance_id: &str,
    ) -> Result<bool> {
        self.db
            .transaction(ctx, |tx| {
                Box::pin(async move {
                    let sql = tx
                        .dialect()
                        .sql("DELETE FROM reg_instances WHERE tenant = ? AND instance_id = ?");
                    let done = tx
                        .execute(ctx, sqlx::query(sql).bind(tenant).bind(instance_id))
                        .await?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await
    }

    /// The persistent instances of a service, ordered by instance id (empty when the service
    /// has none or does not exist).
    pub async fn instances_of(&self, ctx: &Context, id: &ServiceId) -> Result<Vec<Instance>> {
        let sql = self.db.dialect().sql(
            "SELECT body FROM reg_instances WHERE tenant = ? AND group_name = ? \
             AND service_name = ? ORDER BY instance_id",
        );
        let rows: Vec<BodyRow> = self
            .db
            .fetch_all(
                ctx,
                sqlx::query_as(sql)
                    .bind(id.tenant.as_str())
                    .bind(id.group.as_str())
                    .bind(id.service.as_str()),
            )
            .await?;
        decode_all(rows)
    }

    /// Every persistent instance of every tenant, ordered by tenant, group, service and
    /// instance id (a node's start-up).
    pub async fn all_instances(&self, ctx: &Context) -> Result<Vec<Instance>> {
        let sql = self.db.dialect().sql(
            "SELECT body FROM reg_instances \
             ORDER BY tenant, group_name, service_name, instance_id",
        );
        let rows: Vec<BodyRow> = self.db.fetch_all(ctx, sqlx::query_as(sql)).await?;
        decode_all(rows)
    }
}
