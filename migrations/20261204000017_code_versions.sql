-- Every change of what a code does when scanned (target, rules, UTM, data, status) is kept as a
-- numbered version: who made it, through which key, what changed, and the whole restorable
-- state after it. Version 1 is the code as created; a restore is a new version.
CREATE TABLE qr_code_versions (
    qr_id          uuid        NOT NULL REFERENCES qr_codes (id) ON DELETE CASCADE,
    version        integer     NOT NULL CHECK (version > 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    actor_user_id  uuid,
    api_key_id     uuid,
    -- {field: {from, to}} for the fields that changed; `restored_from` on a restore.
    changes        jsonb       NOT NULL,
    -- {target_url, rules, utm, data, status} after the change.
    state          jsonb       NOT NULL,
    PRIMARY KEY (qr_id, version)
);

-- Codes that exist already start their history at version 1, as they are now.
INSERT INTO qr_code_versions (qr_id, version, created_at, actor_user_id, changes, state)
SELECT q.id, 1, q.updated_at, q.user_id, '{}'::jsonb,
       jsonb_build_object('target_url', q.target_url, 'rules', q.rules, 'utm', q.utm,
                          'data', d.type_data, 'status', q.status)
FROM qr_codes q LEFT JOIN qr_type_details d ON d.qr_id = q.id
WHERE q.status <> 'deleted';
