-- Why a delivery was given up, as a word the dashboard acts on (issue 16):
-- `webhook_gone` (Discord answered 401 or 404: check DISCORD_WEBHOOK_URL,
-- then resend) or `rejected` (any other refusal; the reason is in
-- last_error). Null while a row is pending or once it is sent; a resend
-- clears it. Rows that failed before are classified from their stored error.
-- Append-only: never edit once shipped.

ALTER TABLE outbox ADD COLUMN failure text CHECK (failure IN ('webhook_gone', 'rejected'));

UPDATE outbox SET failure = CASE
        WHEN kind = 'discord' AND last_error ~ '^Discord rejected the message: (401|404)' THEN 'webhook_gone'
        ELSE 'rejected'
    END
WHERE status = 'failed';

