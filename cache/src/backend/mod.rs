//! Backends execute [`Command`]s; everything else (validation, namespaces, Context deadlines,
//! typed results, locks) is written once in the provider.

use async_trait::async_trait;

use crate::Result;
use crate::command::{Command, Reply};

#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod standalone;
mod zset;

#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    async fn execute(&self, command: Command) -> Result<Reply>;
    async fn close(&self);
}
