-- keel-registry schema (SQLite). Keep in step with ../postgres and ../mysql.
-- Times are Unix milliseconds; JSON columns hold what the store wrote with serde_json.
-- Children point at their parent by id without ON DELETE CASCADE: a group with services or a
-- service with persistent instances must not vanish with them, so the store refuses those
-- deletes with a Conflict and the foreign keys (keel-db turns PRAGMA foreign_keys on for
-- every connection) are the backstop. Ephemeral instances live in coord, never here.
CREATE TABLE reg_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    -- JSON array of strings.
    register_tokens TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CONSTRAINT reg_groups_tenant_name UNIQUE (tenant, name)
);

CREATE TABLE reg_services (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id INTEGER NOT NULL REFERENCES reg_groups (id),
    tenant TEXT NOT NULL,
    group_name TEXT NOT NULL,
    name TEXT NOT NULL,
    -- JSON object of string → string.
    metadata TEXT NOT NULL,
    protect_threshold REAL NOT NULL,
    -- JSON HealthCheck, or NULL for none.
    default_health_check TEXT,
    load_balance TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CONSTRAINT reg_services_tenant_group_name UNIQUE (tenant, group_name, name)
);
CREATE INDEX reg_services_group ON reg_services (group_id);

-- Persistent instances only; `body` is the whole Instance as JSON.
CREATE TABLE reg_instances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id INTEGER NOT NULL REFERENCES reg_services (id),
    tenant TEXT NOT NULL,
    group_name TEXT NOT NULL,
    service_name TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    CONSTRAINT reg_instances_tenant_instance UNIQUE (tenant, instance_id)
);
CREATE INDEX reg_instances_service_names ON reg_instances (tenant, group_name, service_name);
CREATE INDEX reg_instances_service ON reg_instances (service_id);
