-- What the attack on the base found (issue "Close the holes").

-- Where a staff-issued activation code came from, so an activation from the same address soon
-- after is flagged for review.
ALTER TABLE activation_codes ADD COLUMN created_addr TEXT NOT NULL DEFAULT '';

-- An account's refused sign-ins, read on its Account page.
CREATE INDEX audit_events_actor_action ON audit_events(actor_id, action, seq);
