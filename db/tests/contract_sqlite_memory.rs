//! The db contract on SQLite `:memory:` (one connection, private to the provider).
#![cfg(feature = "sqlite")]

mod common;

keel_testkit::db_contract!(common::sqlite_memory);
