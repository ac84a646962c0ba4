-- UTM parameters a dynamic URL code adds to its redirects.
ALTER TABLE qr_codes ADD COLUMN utm JSONB NOT NULL DEFAULT '{}'::jsonb;
