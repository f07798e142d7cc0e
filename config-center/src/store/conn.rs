//! [`Conn`]: the pool or an open transaction, so a lookup used by both reads and writes is
//! written once.

use keel_clog::Context;
use keel_db::{AnyRow, Db, Dialect, QueryAs, Tx};

/// Where a statement runs: on a pooled connection (reads) or inside a write's transaction.
pub(super) enum Conn<'a, 'c> {
    /// Any pooled connection; each statement sees the latest committed data.
    Pool(&'a Db),
    /// The transaction of a write, which already holds its app's lock.
    Tx(&'a mut Tx<'c>),
}

impl Conn<'_, '_> {
    /// The SQL dialect of the server.
    pub(super) fn dialect(&self) -> &Dialect {
        match self {
            Conn::Pool(db) => db.dialect(),
            Conn::Tx(tx) => tx.dialect(),
        }
    }

    /// The first row, or `None`.
    pub(super) async fn fetch_optional<T>(
        &mut self,
        ctx: &Context,
        query: QueryAs<'_, T>,
    ) -> keel_db::Result<Option<T>>
    where
        T: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    {
        match self {
            Conn::Pool(db) => db.fetch_optional(ctx, query).await,
            Conn::Tx(tx) => tx.fetch_optional(ctx, query).await,
        }
    }

    /// Every row.
    pub(super) async fn fetch_all<T>(
        &mut self,
        ctx: &Context,
        query: QueryAs<'_, T>,
    ) -> keel_db::Result<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
    {
        match self {
            Conn::Pool(db) => db.fetch_all(ctx, query).await,
            Conn::Tx(tx) => tx.fetch_all(ctx, query).await,
        }
    }
}
