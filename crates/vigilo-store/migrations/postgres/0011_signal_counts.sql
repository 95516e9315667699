-- The signal job reads its reports in one pass (PostgreSQL). Keep in step with
-- ../sqlite/0011_signal_counts.sql.
-- incidents_signal: every column the job reads, in id order, so that the pass reads this
-- index instead of the wide rows (narratives) and meets incident_codes in its key order.
CREATE INDEX incidents_signal ON incidents (id, duplicate_of, product_id, version_id, foreign_reference_id, occurred_on, received_on);
-- reports_digest: SHA-256 of a signal's sorted report ids, so that a run can leave a signal
-- found again with the same reports alone instead of rewriting its signal_incidents rows.
ALTER TABLE signals ADD COLUMN reports_digest TEXT NOT NULL DEFAULT '';
