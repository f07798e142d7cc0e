-- Gray releases: at most one active per namespace, served only to the clients its rules match
-- (client IPs / CIDR ranges, client labels). Merging makes its configuration a normal release;
-- abandoning drops it. Keep in step with ../sqlite and ../postgres.
CREATE TABLE cc_gray_releases (
    namespace_id BIGINT NOT NULL PRIMARY KEY,
    release_key VARCHAR(191) NOT NULL,
    name MEDIUMTEXT NOT NULL,
    comment MEDIUMTEXT NOT NULL,
    configs LONGTEXT NOT NULL,
    rules MEDIUMTEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by MEDIUMTEXT NOT NULL,
    CONSTRAINT cc_gray_releases_key UNIQUE (release_key),
    CONSTRAINT cc_gray_releases_namespace_fk FOREIGN KEY (namespace_id) REFERENCES cc_namespaces (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
