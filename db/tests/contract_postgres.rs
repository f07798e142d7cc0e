//! The db contract on a real PostgreSQL (`KEEL_TEST_POSTGRES`), a fresh database per case.
#![cfg(feature = "postgres")]

mod common;

keel_testkit::db_contract!(common::postgres);
