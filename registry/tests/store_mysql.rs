//! The RegistryStore suite on a real MySQL/MariaDB (`KEEL_TEST_MYSQL`), a fresh database per
//! case. Skipped without the variable, except under `CI=true`.
#![cfg(feature = "mysql")]

mod store;

use store::store_suite;

store_suite!(store::mysql);
