-- Copy of the Postgres qr_codes metadata, so account-wide analytics can group by project and
-- type without a cross-store join. Versions collapse by updated_at; readers use argMax, never FINAL.
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
    updated_at    DateTime
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (user_id, id);
