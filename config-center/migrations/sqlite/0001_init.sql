-- keel-config-center schema (SQLite). Keep in step with ../postgres and ../mysql.
-- Times are Unix milliseconds. Children are deleted with their parent (ON DELETE CASCADE;
-- keel-db turns PRAGMA foreign_keys on for every connection). History has no foreign key:
-- it outlives what it describes.
CREATE TABLE cc_apps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    env TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    owner TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    CONSTRAINT cc_apps_env_name UNIQUE (env, name)
);

CREATE TABLE cc_clusters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id INTEGER NOT NULL REFERENCES cc_apps (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    CONSTRAINT cc_clusters_app_name UNIQUE (app_id, name)
);

CREATE TABLE cc_namespaces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster_id INTEGER NOT NULL REFERENCES cc_clusters (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    format TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    CONSTRAINT cc_namespaces_cluster_name UNIQUE (cluster_id, name)
);

CREATE TABLE cc_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace_id INTEGER NOT NULL REFERENCES cc_namespaces (id) ON DELETE CASCADE,
    item_key TEXT NOT NULL,
    item_value TEXT NOT NULL,
    comment TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL,
    CONSTRAINT cc_items_namespace_key UNIQUE (namespace_id, item_key)
);

-- The newest row (highest id) of a namespace is its current release.
CREATE TABLE cc_releases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace_id INTEGER NOT NULL REFERENCES cc_namespaces (id) ON DELETE CASCADE,
    release_key TEXT NOT NULL,
    name TEXT NOT NULL,
    comment TEXT NOT NULL,
    configs TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    rolled_back_from TEXT,
    CONSTRAINT cc_releases_key UNIQUE (release_key)
);
CREATE INDEX cc_releases_namespace ON cc_releases (namespace_id, id);

CREATE TABLE cc_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace_id INTEGER,
    env TEXT NOT NULL,
    app_name TEXT NOT NULL,
    cluster_name TEXT NOT NULL,
    namespace_name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX cc_history_namespace ON cc_history (namespace_id, id);
