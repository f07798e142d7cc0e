//! Sharding: a key → one of N databases × M tables per database, by a hash that never changes.
//!
//! The scheme (documented in `docs/db.md`, pinned by the test vectors below):
//!
//! 1. `h = xxHash64(bytes of the key, seed 0)`; strings hash as their UTF-8 bytes, integers as
//!    their decimal text (`42` and `"42"` land together, and other languages can compute it).
//! 2. `slot = h mod (N × M)`.
//! 3. `database = slot / M`, `table = slot mod M`; the table suffix is `table` in decimal,
//!    zero-padded to at least two digits (`orders_03`).
//!
//! Changing N or M moves most keys: choose them for the largest size you plan (many small
//! tables are cheap), and move whole databases (not keys) when you outgrow a server.

use std::borrow::Cow;
use std::sync::Arc;

use crate::{Db, Error, Result, Sql};

/// The stable shard hash: xxHash64 with seed 0 — a frozen, published algorithm, so routing is
/// the same on every platform, in every version of keel and in other languages.
pub fn shard_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh64::xxh64(key, 0)
}

/// Something a row can be sharded by.
pub trait ShardKey {
    /// The bytes that are hashed.
    fn shard_bytes(&self) -> Cow<'_, [u8]>;
}

impl ShardKey for str {
    fn shard_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

impl ShardKey for String {
    fn shard_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.as_bytes())
    }
}

impl ShardKey for [u8] {
    fn shard_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}

impl ShardKey for Vec<u8> {
    fn shard_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self)
    }
}

impl<T: ShardKey + ?Sized> ShardKey for &T {
    fn shard_bytes(&self) -> Cow<'_, [u8]> {
        (**self).shard_bytes()
    }
}

macro_rules! decimal_shard_key {
    ($($t:ty),*) => {$(
        impl ShardKey for $t {
            fn shard_bytes(&self) -> Cow<'_, [u8]> {
                Cow::Owned(self.to_string().into_bytes())
            }
        }
    )*};
}
decimal_shard_key!(u32, u64, i32, i64, u128, i128);

/// The shape of a sharded table set: `databases` × `tables_per_database` slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShardLayout {
    databases: u32,
    tables_per_database: u32,
}

/// Where one key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShardLocation {
    /// `hash mod (databases × tables_per_database)`.
    pub slot: u32,
    /// Index of the database (pool), `slot / tables_per_database`.
    pub database: usize,
    /// Index of the table within the database, `slot mod tables_per_database`.
    pub table: u32,
    width: usize,
}

impl ShardLocation {
    /// The table suffix: `table` zero-padded to at least two digits (`"03"`).
    pub fn table_suffix(&self) -> String {
        format!("{:0width$}", self.table, width = self.width)
    }

    /// `base` with the suffix: `orders` → `orders_03`.
    pub fn table_name(&self, base: &str) -> String {
        format!("{base}_{}", self.table_suffix())
    }
}

/// The most slots a layout may have.
pub const MAX_SLOTS: u32 = 1 << 20;

impl ShardLayout {
    /// A layout of `databases` × `tables_per_database` (each at least 1, at most
    /// [`MAX_SLOTS`] slots in all).
    pub fn new(databases: u32, tables_per_database: u32) -> Result<Self> {
        if databases == 0 || tables_per_database == 0 {
            return Err(Error::InvalidConfig(
                "a shard layout needs at least one database and one table per database".into(),
            ));
        }
        match databases.checked_mul(tables_per_database) {
            Some(slots) if slots <= MAX_SLOTS => Ok(ShardLayout {
                databases,
                tables_per_database,
            }),
            _ => Err(Error::InvalidConfig(format!(
                "a shard layout of {databases} × {tables_per_database} has more than {MAX_SLOTS} slots"
            ))),
        }
    }

    /// Number of databases.
    pub fn databases(&self) -> u32 {
        self.databases
    }

    /// Number of tables in each database.
    pub fn tables_per_database(&self) -> u32 {
        self.tables_per_database
    }

    /// `databases × tables_per_database`.
    pub fn slots(&self) -> u32 {
        self.databases * self.tables_per_database
    }

    fn width(&self) -> usize {
        (self.tables_per_database - 1).to_string().len().max(2)
    }

    /// Where `key` lives.
    pub fn locate<K: ShardKey + ?Sized>(&self, key: &K) -> ShardLocation {
        let hash = shard_hash(&key.shard_bytes());
        // The remainder is below `slots`, itself a u32.
        let slot = u32::try_from(hash % u64::from(self.slots())).unwrap_or(0);
        self.slot(slot)
    }

    /// The location of `slot` (`slot < slots()`; larger values wrap).
    pub fn slot(&self, slot: u32) -> ShardLocation {
        let slot = slot % self.slots();
        ShardLocation {
            slot,
            database: (slot / self.tables_per_database) as usize,
            table: slot % self.tables_per_database,
            width: self.width(),
        }
    }

    /// Every location, in slot order.
    pub fn all(&self) -> impl Iterator<Item = ShardLocation> + '_ {
        (0..self.slots()).map(|s| self.slot(s))
    }
}

/// Routes keys to one of several databases and to a table suffix.
///
/// ```
/// use keel_db::ShardLayout;
///
/// let layout = ShardLayout::new(2, 4).unwrap();
/// let at = layout.locate("customer-42");
/// assert_eq!(at, layout.locate("customer-42")); // stable
/// assert!(at.database < 2 && at.table < 4);
/// assert_eq!(at.table_name("orders"), format!("orders_0{}", at.table));
/// ```
#[derive(Debug, Clone)]
pub struct ShardRouter {
    layout: ShardLayout,
    databases: Vec<Arc<Db>>,
}

/// One key's shard: the database to use and the table suffix.
#[derive(Debug, Clone, Copy)]
pub struct Shard<'a> {
    /// The database holding the key.
    pub db: &'a Arc<Db>,
    /// Where exactly.
    pub location: ShardLocation,
}

impl Shard<'_> {
    /// Index of the database among the router's databases.
    pub fn pool_index(&self) -> usize {
        self.location.database
    }

    /// The table suffix (`"03"`).
    pub fn table_suffix(&self) -> String {
        self.location.table_suffix()
    }

    /// `base` with the suffix (`orders_03`).
    pub fn table(&self, base: &str) -> String {
        self.location.table_name(base)
    }

    /// `template` in this database's dialect with `{table}` replaced by the quoted `base_NN`.
    pub fn sql(&self, template: &'static str, base: &str) -> Result<Sql> {
        self.db.dialect().sql_for_table(template, &self.table(base))
    }
}

impl ShardRouter {
    /// A router over `databases` (in this order — the order is part of the layout) with
    /// `tables_per_database` tables in each. All databases must be of one engine.
    pub fn new(databases: Vec<Arc<Db>>, tables_per_database: u32) -> Result<Self> {
        let count = u32::try_from(databases.len()).unwrap_or(u32::MAX);
        let layout = ShardLayout::new(count, tables_per_database)?;
        if let Some(first) = databases.first()
            && databases.iter().any(|db| db.engine() != first.engine())
        {
            return Err(Error::InvalidConfig(
                "all databases of a shard router must be of the same engine".into(),
            ));
        }
        Ok(ShardRouter { layout, databases })
    }

    /// The layout.
    pub fn layout(&self) -> ShardLayout {
        self.layout
    }

    /// The databases, in routing order (close them when done: the router does not own them).
    pub fn databases(&self) -> &[Arc<Db>] {
        &self.databases
    }

    fn shard(&self, location: ShardLocation) -> Shard<'_> {
        Shard {
            db: &self.databases[location.database],
            location,
        }
    }

    /// The shard of `key`.
    pub fn route<K: ShardKey + ?Sized>(&self, key: &K) -> Shard<'_> {
        self.shard(self.layout.locate(key))
    }

    /// Every shard (for creating the tables, or queries that must visit all of them).
    pub fn shards(&self) -> impl Iterator<Item = Shard<'_>> + '_ {
        self.layout.all().map(|l| self.shard(l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xxHash64 (seed 0) reference values: the first three are the algorithm's published
    /// vectors, the others were cross-checked with an independent implementation (the long key
    /// takes the 32-byte-stripe path). If one of these changes, every sharded row moves: never.
    const HASH_VECTORS: [(&str, u64); 7] = [
        ("", 0xEF46_DB37_51D8_E999),
        ("abc", 0x44BC_2CF5_AD77_0999),
        ("a", 0xD24E_C4F1_A98C_6E5B),
        ("customer-42", 0xCA6E_96E9_5695_8C0F),
        ("42", 0x6DE6_F5D0_76D7_42B9),
        ("order:2024-0001", 0x023A_C16A_BBAA_8D02),
        (
            "a fairly long key that is over thirty-two bytes long",
            0x93F6_BE83_D435_6ABD,
        ),
    ];

    #[test]
    fn the_hash_never_changes() {
        for (key, want) in HASH_VECTORS {
            assert_eq!(shard_hash(key.as_bytes()), want, "xxh64({key:?})");
        }
        assert_eq!(42_u64.shard_bytes(), "42".shard_bytes());
        assert_eq!((-7_i64).shard_bytes(), "-7".shard_bytes());
    }

    #[test]
    fn routing_vectors_2_databases_by_4_tables() {
        let layout = ShardLayout::new(2, 4).unwrap();
        // (key, slot, database, suffix): slot = hash mod 8, database = slot / 4.
        let cases: [(&str, u32, usize, &str); 5] = [
            ("customer-42", 7, 1, "03"),
            ("42", 1, 0, "01"),
            ("order:2024-0001", 2, 0, "02"),
            ("a", 3, 0, "03"),
            (
                "a fairly long key that is over thirty-two bytes long",
                5,
                1,
                "01",
            ),
        ];
        for (key, slot, database, suffix) in cases {
            let at = layout.locate(key);
            assert_eq!(
                (at.slot, at.database, at.table_suffix().as_str()),
                (slot, database, suffix),
                "{key}"
            );
        }
        assert_eq!(layout.locate(&42_u64), layout.locate("42"));
    }

    #[test]
    fn suffixes_are_padded_to_the_widest_table() {
        let small = ShardLayout::new(1, 4).unwrap();
        assert_eq!(small.slot(3).table_name("orders"), "orders_03");
        let big = ShardLayout::new(1, 1000).unwrap();
        assert_eq!(big.slot(7).table_suffix(), "007");
        assert_eq!(big.slot(999).table_suffix(), "999");
        let two = ShardLayout::new(3, 100).unwrap();
        let at = two.slot(250);
        assert_eq!(
            (at.database, at.table, at.table_suffix().as_str()),
            (2, 50, "50")
        );
    }

    #[test]
    fn layouts_are_validated() {
        assert!(ShardLayout::new(0, 4).is_err());
        assert!(ShardLayout::new(4, 0).is_err());
        assert!(ShardLayout::new(u32::MAX, 2).is_err());
        assert_eq!(ShardLayout::new(2, 3).unwrap().all().count(), 6);
    }

    #[test]
    fn keys_spread_over_every_slot() {
        let layout = ShardLayout::new(4, 8).unwrap();
        let mut counts = vec![0_u32; layout.slots() as usize];
        for i in 0..32_000_u64 {
            counts[layout.locate(&i).slot as usize] += 1;
        }
        // 1000 expected per slot; a decent hash stays well within ±20%.
        for (slot, n) in counts.iter().enumerate() {
            assert!((800..1200).contains(n), "slot {slot} got {n}");
        }
    }
}
