-- White-label landing pages (name, colours, logo upload) and the owner's choice to keep scanner
-- IP addresses whole instead of anonymised (/24, /48); anonymising stays the default.
ALTER TABLE user_settings
    ADD COLUMN branding     JSONB   NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN anonymize_ip BOOLEAN NOT NULL DEFAULT true;
