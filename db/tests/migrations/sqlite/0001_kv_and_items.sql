-- Test schema of keel-db's contract suite (SQLite). Portable types only (see docs/db.md).
CREATE TABLE kv (
    k TEXT NOT NULL PRIMARY KEY,
    v TEXT NOT NULL,
    n INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    flag INTEGER,
    data BLOB,
    score REAL NOT NULL DEFAULT 0
);
