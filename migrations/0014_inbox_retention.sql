-- The vendor webhook inbox is pruned by age (VENDOR_WEBHOOK_INBOX_DAYS; ledger/webhooks/inbox.py),
-- oldest first, a batch at a time: without this index each batch's DELETE read the whole table
-- to find its rows (bench/inbox_prune.py).
CREATE INDEX vendor_webhook_inbox_received_at ON vendor_webhook_inbox (received_at);
