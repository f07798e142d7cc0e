-- keel-registry schema (MySQL 8 / MariaDB 10.5+). Keep in step with ../sqlite and
-- ../postgres. Times are Unix milliseconds; JSON columns hold what the store wrote with
-- serde_json (LONGTEXT, not JSON: the store only reads them back whole).
-- utf8mb4_bin: names compare exactly and sort in byte order, as on SQLite and on PostgreSQL
-- with COLLATE "C" (the server's default collation is case-insensitive, which would make
-- "Orders" and "orders" one service here only). Indexed names are VARCHAR(191): three of
-- them still fit InnoDB's 3072-byte key limit at 4 bytes a character.
-- Children point at their parent by id without ON DELETE CASCADE: a group with services or a
-- service with persistent instances must not vanish with them, so the store refuses those
-- deletes with a Conflict and the foreign keys are the backstop. Ephemeral instances live in
-- coord, never here.
CREATE TABLE reg_groups (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant VARCHAR(191) NOT NULL,
    name VARCHAR(191) NOT NULL,
    description MEDIUMTEXT NOT NULL,
    -- JSON array of strings.
    register_tokens MEDIUMTEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT reg_groups_tenant_name UNIQUE (tenant, name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE reg_services (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    group_id BIGINT NOT NULL,
    tenant VARCHAR(191) NOT NULL,
    group_name VARCHAR(191) NOT NULL,
    name VARCHAR(191) NOT NULL,
    -- JSON object of string → string.
    metadata MEDIUMTEXT NOT NULL,
    protect_threshold DOUBLE NOT NULL,
    -- JSON HealthCheck, or NULL for none.
    default_health_check MEDIUMTEXT,
    load_balance VARCHAR(32) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT reg_services_tenant_group_name UNIQUE (tenant, group_name, name),
    INDEX reg_services_group (group_id),
    CONSTRAINT reg_services_group_fk FOREIGN KEY (group_id) REFERENCES reg_groups (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Persistent instances only; `body` is the whole Instance as JSON.
CREATE TABLE reg_instances (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    service_id BIGINT NOT NULL,
    tenant VARCHAR(191) NOT NULL,
    group_name VARCHAR(191) NOT NULL,
    service_name VARCHAR(191) NOT NULL,
    instance_id VARCHAR(191) NOT NULL,
    body LONGTEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT reg_instances_tenant_instance UNIQUE (tenant, instance_id),
    INDEX reg_instances_service_names (tenant, group_name, service_name),
    INDEX reg_instances_service (service_id),
    CONSTRAINT reg_instances_service_fk FOREIGN KEY (service_id) REFERENCES reg_services (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
