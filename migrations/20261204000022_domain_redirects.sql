-- Where a custom domain sends visitors who reach no code: its root (`https://go.brand.example/`)
-- and unknown short codes (a typo, an expired print run). NULL: this service's 404 page.
ALTER TABLE domains ADD COLUMN root_url text;
ALTER TABLE domains ADD COLUMN not_found_url text;
