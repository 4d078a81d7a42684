-- Retention of the webhook delivery log (reading/webhooks-retention.ts). PostgreSQL 15 dialect;
-- also runs on PGlite.

-- The pruner deletes delivered entries older than RADLINK_WEBHOOK_LOG_DELIVERED_DAYS and failed
-- ones older than RADLINK_WEBHOOK_LOG_FAILED_DAYS, oldest first, a batch at a time:
--   ... WHERE status = $1 AND updated_at < <cutoff> ORDER BY updated_at LIMIT n
-- Without this index each batch would scan the whole table (the existing index leads with
-- facility_id). updated_at is the age of a finished entry: the UPDATE that records the last
-- attempt sets it (and delivered_at, to the same now()), and nothing changes a delivered or
-- failed row afterwards. Not partial (WHERE status <> 'pending'): the status is a bound
-- parameter, and a generic plan cannot prove that a parameter satisfies an index predicate.
-- Built without CONCURRENTLY (migrations run in one transaction): on a site whose log already
-- holds millions of rows, webhook log writes wait for the build, a few seconds, once.
CREATE INDEX IF NOT EXISTS webhook_deliveries_status_updated_idx ON webhook_deliveries (status, updated_at);

-- Who runs a periodic maintenance job now, when several gateways share the database: a lease
-- taken with one atomic upsert (only when free or expired), renewed as the job progresses and
-- deleted when it ends; a gateway that dies mid-run leaves a lease that expires on its own.
-- Not an advisory lock: a transaction-level one would need a transaction open for the whole
-- run, and PostgreSQL keeps that transaction's snapshot (its xmin), holding VACUUM back from
-- every row deleted meanwhile; a session-level one needs a connection the pool does not give.
CREATE TABLE maintenance_leases (
  name        text PRIMARY KEY,
  -- A random id per run.
  holder      text NOT NULL,
  acquired_at timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);
