-- Copy of the Postgres qr_codes metadata, so account-wide analytics can group by project and
-- type without a cross-store join. Rows collapse by `version` (Postgres updated_at in
-- microseconds: DateTime has one-second resolution and DateTime64 does not exist on 18.16, so two
-- changes within a second would otherwise tie). Readers use argMax(…, version), never FINAL.
CREATE TABLE IF NOT EXISTS qr_codes
(
    id            UUID,
    user_id       UUID,
    project_id    UUID,
    name          String,
    type          String,
    is_dynamic    UInt8,
    short_code    String,
    status        String,
    static_data   String,
    dynamic_data  String,
    design        String,
    created_at    DateTime,
    updated_at    DateTime,
    version       UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (user_id, id);
