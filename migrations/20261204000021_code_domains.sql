-- The custom domain a dynamic code's short URL (and so its printed image) uses; NULL: this
-- service's own host. A domain in use cannot be removed through the API (the printed URLs
-- would silently change); when the whole account goes, SET NULL keeps the cascade simple.
ALTER TABLE qr_codes ADD COLUMN domain_id uuid REFERENCES domains (id) ON DELETE SET NULL;
CREATE INDEX qr_codes_domain ON qr_codes (domain_id) WHERE domain_id IS NOT NULL;
-- The HTTP check's token lookup (`/.well-known/qrsaas/<token>` on the domain's own host).
CREATE INDEX domains_token ON domains (token);
