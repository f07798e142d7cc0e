//! The RegistryStore suite on a real PostgreSQL (`KEEL_TEST_POSTGRES`), a fresh database per
//! case. Skipped without the variable, except under `CI=true`.
#![cfg(feature = "postgres")]

mod store;

use store::store_suite;

store_suite!(store::postgres);
