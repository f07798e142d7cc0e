-- A release published as one text document (through the Nacos API) keeps that text byte for
-- byte and the type it was declared as, so a text client reads back exactly what it wrote
-- (properties comments, order, escapes) while native clients read the parsed items. NULL for
-- releases made from the working copy, whose text is rendered from the items.
-- The history index serves history by names, which outlives a deleted and re-created
-- namespace (the Nacos history of a config). Keep in step with the other dialects.
ALTER TABLE cc_releases ADD COLUMN raw_content LONGTEXT NULL;
ALTER TABLE cc_releases ADD COLUMN content_type VARCHAR(32) NULL;
ALTER TABLE cc_gray_releases ADD COLUMN raw_content LONGTEXT NULL;
ALTER TABLE cc_gray_releases ADD COLUMN content_type VARCHAR(32) NULL;
CREATE INDEX cc_history_names ON cc_history (env, app_name, cluster_name, namespace_name, id);
