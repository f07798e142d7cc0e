//! The db contract on a real MySQL/MariaDB (`KEEL_TEST_MYSQL`), a fresh database per case.
#![cfg(feature = "mysql")]

mod common;

keel_testkit::db_contract!(common::mysql);
