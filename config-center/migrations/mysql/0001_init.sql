-- keel-config-center schema (MySQL 8 / MariaDB 10.5+). Keep in step with ../sqlite and
-- ../postgres. Times are Unix milliseconds.
-- utf8mb4_bin: names and keys compare exactly and sort in byte order, as on SQLite and on
-- PostgreSQL with COLLATE "C" (the server's default collation is case-insensitive, which
-- would make "App" and "app" one app here only). It pads with spaces, so the store refuses
-- keys that end with a space.
-- TEXT holds only 64 KiB here: values (up to 1 MiB) are MEDIUMTEXT (16 MiB), release
-- snapshots and history details (many values) LONGTEXT.
-- Children are deleted with their parent (ON DELETE CASCADE). History has no foreign key:
-- it outlives what it describes.
CREATE TABLE cc_apps (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    env VARCHAR(64) NOT NULL,
    name VARCHAR(64) NOT NULL,
    description MEDIUMTEXT NOT NULL,
    owner MEDIUMTEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by MEDIUMTEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by MEDIUMTEXT NOT NULL,
    CONSTRAINT cc_apps_env_name UNIQUE (env, name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE cc_clusters (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    app_id BIGINT NOT NULL,
    name VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    created_by MEDIUMTEXT NOT NULL,
    CONSTRAINT cc_clusters_app_name UNIQUE (app_id, name),
    CONSTRAINT cc_clusters_app FOREIGN KEY (app_id) REFERENCES cc_apps (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE cc_namespaces (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    cluster_id BIGINT NOT NULL,
    name VARCHAR(64) NOT NULL,
    format VARCHAR(16) NOT NULL,
    created_at BIGINT NOT NULL,
    created_by MEDIUMTEXT NOT NULL,
    CONSTRAINT cc_namespaces_cluster_name UNIQUE (cluster_id, name),
    CONSTRAINT cc_namespaces_cluster FOREIGN KEY (cluster_id) REFERENCES cc_clusters (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE cc_items (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    namespace_id BIGINT NOT NULL,
    item_key VARCHAR(191) NOT NULL,
    item_value MEDIUMTEXT NOT NULL,
    comment MEDIUMTEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by MEDIUMTEXT NOT NULL,
    CONSTRAINT cc_items_namespace_key UNIQUE (namespace_id, item_key),
    CONSTRAINT cc_items_namespace FOREIGN KEY (namespace_id) REFERENCES cc_namespaces (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The newest row (highest id) of a namespace is its current release.
CREATE TABLE cc_releases (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    namespace_id BIGINT NOT NULL,
    release_key VARCHAR(191) NOT NULL,
    name MEDIUMTEXT NOT NULL,
    comment MEDIUMTEXT NOT NULL,
    configs LONGTEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by MEDIUMTEXT NOT NULL,
    rolled_back_from VARCHAR(191),
    CONSTRAINT cc_releases_key UNIQUE (release_key),
    INDEX cc_releases_namespace (namespace_id, id),
    CONSTRAINT cc_releases_namespace_fk FOREIGN KEY (namespace_id) REFERENCES cc_namespaces (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE cc_history (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    namespace_id BIGINT,
    env VARCHAR(64) NOT NULL,
    app_name VARCHAR(64) NOT NULL,
    cluster_name VARCHAR(64) NOT NULL,
    namespace_name VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    actor MEDIUMTEXT NOT NULL,
    action VARCHAR(64) NOT NULL,
    target MEDIUMTEXT NOT NULL,
    detail LONGTEXT NOT NULL,
    INDEX cc_history_namespace (namespace_id, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
