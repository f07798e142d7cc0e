-- Test schema of keel-db's contract suite (MySQL/MariaDB). Portable types only (see docs/db.md).
CREATE TABLE kv (
    k VARCHAR(191) NOT NULL PRIMARY KEY,
    v TEXT NOT NULL,
    n BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE items (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(100) NOT NULL UNIQUE,
    flag SMALLINT,
    data BLOB,
    score DOUBLE NOT NULL DEFAULT 0
);
