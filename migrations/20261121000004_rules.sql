-- Per-code redirect rules, evaluated in order on every scan (first match wins).
ALTER TABLE qr_codes ADD COLUMN rules JSONB NOT NULL DEFAULT '[]'::jsonb;
