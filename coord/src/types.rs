//! The data the coordination store deals in.

/// A lease id as the backend knows it.
pub type LeaseId = i64;

/// One key with its value and revisions. Revisions are store-wide and increase with every
/// write, so they order all changes and serve as fencing tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key, without the provider's namespace.
    pub key: String,
    /// The value (empty for a deletion event).
    pub value: Vec<u8>,
    /// Revision of the write that created the key.
    pub create_revision: i64,
    /// Revision of the last write (or of the deletion, in a deletion event).
    pub mod_revision: i64,
    /// Number of writes since creation.
    pub version: i64,
    /// The lease the key is attached to (0 = none).
    pub lease: LeaseId,
}

impl KeyValue {
    /// The value as UTF-8 text, if it is.
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }
}

/// A consistent listing: the keys under a prefix at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The keys, sorted.
    pub kvs: Vec<KeyValue>,
    /// The store revision the listing was taken at; watch from `revision + 1` to see every
    /// later change.
    pub revision: i64,
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Created or updated.
    Put,
    /// Deleted (explicitly or by lease expiry).
    Delete,
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    /// Put or delete.
    pub kind: EventKind,
    /// The key after the change; for a delete, the value is empty and `mod_revision` is the
    /// deletion's revision.
    pub kv: KeyValue,
}

impl WatchEvent {
    /// The revision of the change.
    pub fn revision(&self) -> i64 {
        self.kv.mod_revision
    }
}

/// What a compare-and-set expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The key must not exist.
    Absent,
    /// The key must exist with exactly this modification revision.
    ModRevision(i64),
}

impl Expect {
    pub(crate) fn as_revision(self) -> i64 {
        match self {
            Expect::Absent => 0,
            Expect::ModRevision(r) => r,
        }
    }
}
