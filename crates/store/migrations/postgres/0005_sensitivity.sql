-- Confidential categories (sexual and reproductive health, mental health, substance use, HIV,
-- genetics): an item in one is never shown to a proxy. '' means none.
ALTER TABLE clinical_items ADD COLUMN sensitivity TEXT NOT NULL DEFAULT '';
