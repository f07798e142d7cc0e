//! The db contract on SQLite files (the standalone backend), each case in its own temp dir.
#![cfg(feature = "sqlite")]

mod common;

keel_testkit::db_contract!(common::sqlite_file);
