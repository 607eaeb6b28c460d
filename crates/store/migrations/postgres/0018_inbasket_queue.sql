-- The in-basket at scale (issue 30). Each conversation keeps how many of the patient's side's
-- messages nobody at the clinic has opened, and the key the in-basket orders on: unread first
-- (2^62 is added to the key of a conversation with nothing unread), then the longest wait. The
-- portal writes both whenever a message arrives or the clinic opens the conversation, so a page
-- of one user's or one pool's in-basket is one index range instead of a count and a sort of
-- every open conversation.
ALTER TABLE conversations ADD COLUMN clinic_unread BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN queue_key BIGINT NOT NULL DEFAULT 0;
UPDATE conversations SET clinic_unread = (SELECT COUNT(*) FROM messages m
  WHERE m.conversation_id = conversations.id AND m.side = 'patient' AND m.read_at IS NULL);
UPDATE conversations SET queue_key = CASE WHEN clinic_unread > 0 THEN 0
  ELSE 4611686018427387904 END + COALESCE(waiting_since, last_message_at);
CREATE INDEX conversations_user_queue ON conversations(assigned_user_id, status, queue_key, id);
CREATE INDEX conversations_pool_queue ON conversations(assigned_pool_id, status, queue_key, id);
