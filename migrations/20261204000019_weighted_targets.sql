-- A/B and weighted targets of dynamic URL codes: [{url, weight}], NULL for one target.
-- target_url keeps the first target, so every reader of the single target still has one.
ALTER TABLE qr_codes ADD COLUMN targets jsonb;
