-- Where each app version's definition was written (a spreadsheet's rows and columns, or a
-- Questionnaire), as its draft event records it, so that the lint of a stored version names the
-- cell or linkId of each finding. Versions drafted before it was kept have none.
ALTER TABLE app_versions ADD COLUMN source TEXT;

-- The bytes of the media files (images, sounds, videos) that versions' labels show, once per
-- tenant and digest: a version's definition describes each file by its SHA-256 (lowercase hex),
-- and any number of versions share one row. A projection of `media_attached` events.
CREATE TABLE app_media (
    tenant_id  TEXT  NOT NULL,
    sha256     TEXT  NOT NULL,
    media_type TEXT  NOT NULL,
    content    BYTEA NOT NULL,
    PRIMARY KEY (tenant_id, sha256)
);
