-- QR codes of every type, merchant payment QRs (seed 001), uploads and the templates library.

-- Merchant profile: the payee of payment QRs.
CREATE TABLE merchants (
    user_id         UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    display_name    TEXT NOT NULL,
    upi_vpa         TEXT NOT NULL,
    mcc             TEXT,
    city            TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER merchants_updated_at BEFORE UPDATE ON merchants FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Products; a variant is a product with a parent (seed 001). Deleting a product deletes its
-- variants, and (below) every QR code linked to either.
CREATE TABLE products (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parent_id       UUID REFERENCES products(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    price           NUMERIC(15, 2) NOT NULL CHECK (price >= 0),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX products_user ON products (user_id, created_at);
CREATE INDEX products_parent ON products (parent_id);
CREATE TRIGGER products_updated_at BEFORE UPDATE ON products FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Uploaded images (logos), normalised to PNG and kept in the file store under `storage_key`.
CREATE TABLE uploads (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    original_type   TEXT NOT NULL,
    width           INT NOT NULL,
    height          INT NOT NULL,
    bytes           INT NOT NULL,
    storage_key     TEXT NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX uploads_user ON uploads (user_id, created_at);

ALTER TABLE qr_codes
    ADD COLUMN dynamic      BOOLEAN NOT NULL DEFAULT TRUE,
    ADD COLUMN status       TEXT NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'paused', 'deleted', 'blocked')),
    ADD COLUMN custom_alias BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN template_id  UUID REFERENCES templates(id) ON DELETE SET NULL,
    ADD COLUMN product_id   UUID REFERENCES products(id) ON DELETE CASCADE,
    ADD COLUMN variant_id   UUID REFERENCES products(id) ON DELETE CASCADE,
    ADD COLUMN scans_total  BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN deleted_at   TIMESTAMPTZ,
    ADD CONSTRAINT qr_codes_type CHECK (qr_type IN
        ('url', 'text', 'email', 'phone', 'sms', 'wifi', 'vcard', 'event', 'geo', 'payment'));
-- is_active (seed) is kept in step with status for readers of the seed's shape.
CREATE FUNCTION qr_codes_sync_active() RETURNS trigger AS $$
BEGIN
    NEW.is_active = (NEW.status = 'active');
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER qr_codes_active BEFORE INSERT OR UPDATE ON qr_codes FOR EACH ROW EXECUTE FUNCTION qr_codes_sync_active();
CREATE INDEX qr_codes_user_live ON qr_codes (user_id, created_at DESC) WHERE status <> 'deleted';
CREATE INDEX qr_codes_product ON qr_codes (product_id) WHERE product_id IS NOT NULL;
CREATE INDEX qr_codes_variant ON qr_codes (variant_id) WHERE variant_id IS NOT NULL;

-- The templates library: frames (a caption band around the code) and landing pages.
ALTER TABLE templates ADD CONSTRAINT templates_category CHECK (category IN ('frame', 'landing'));
INSERT INTO templates (id, name, category, image_path, metadata) VALUES
 ('0190a8f4-0000-7000-8000-0000000000f1', 'Scan me', 'frame', 'templates/frame-scan-me.svg',
  '{"caption": "SCAN ME", "style": "box"}'),
 ('0190a8f4-0000-7000-8000-0000000000f2', 'Pay here', 'frame', 'templates/frame-pay-here.svg',
  '{"caption": "PAY HERE", "style": "box"}'),
 ('0190a8f4-0000-7000-8000-0000000000f3', 'Menu', 'frame', 'templates/frame-menu.svg',
  '{"caption": "SEE THE MENU", "style": "banner"}'),
 ('0190a8f4-0000-7000-8000-0000000000a1', 'Announcement', 'landing', 'templates/landing-announcement.svg',
  '{"fields": {"title": {"required": true, "max": 120}, "body": {"required": true, "max": 2000}, "button_text": {"required": false, "max": 40}, "button_url": {"required": false, "url": true}}, "accent": "#1f6feb"}'),
 ('0190a8f4-0000-7000-8000-0000000000a2', 'Coupon', 'landing', 'templates/landing-coupon.svg',
  '{"fields": {"title": {"required": true, "max": 120}, "code": {"required": true, "max": 40}, "terms": {"required": false, "max": 1000}}, "accent": "#d63384"}');
