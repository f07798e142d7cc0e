-- Gray releases: at most one active per namespace, served only to the clients its rules match
-- (client IPs / CIDR ranges, client labels). Merging makes its configuration a normal release;
-- abandoning drops it. Keep in step with ../postgres and ../mysql.
CREATE TABLE cc_gray_releases (
    namespace_id INTEGER PRIMARY KEY REFERENCES cc_namespaces (id) ON DELETE CASCADE,
    release_key TEXT NOT NULL,
    name TEXT NOT NULL,
    comment TEXT NOT NULL,
    configs TEXT NOT NULL,
    rules TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    CONSTRAINT cc_gray_releases_key UNIQUE (release_key)
);
