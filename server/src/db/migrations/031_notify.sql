-- Remote reading, continued: specialty pools, STAT escalation, the event log behind live
-- notifications (server-sent events) and per-facility webhooks with their delivery log, and the
-- first-claim time the turnaround figures need. PostgreSQL 15 dialect; also runs on PGlite.

-- The first time anyone claimed the request. claimed_at belongs to the current claim (a release
-- clears it, a reassignment moves it); request -> claim turnaround is measured to the first one.
ALTER TABLE read_requests ADD COLUMN IF NOT EXISTS first_claimed_at timestamptz;
UPDATE read_requests SET first_claimed_at = claimed_at WHERE first_claimed_at IS NULL AND claimed_at IS NOT NULL;

-- Specialty pools of a reading facility (neuro, abdominal, ...). A request may target one
-- (read_requests.specialty_pool); its members see it first (worklist.ts, pools.ts).
CREATE TABLE specialty_pools (
  facility_id  text NOT NULL REFERENCES facilities (id),
  pool         text NOT NULL CHECK (pool ~ '^[a-z0-9][a-z0-9-]{0,39}$'),
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (facility_id, pool)
);

CREATE TABLE specialty_pool_members (
  facility_id  text NOT NULL,
  pool         text NOT NULL,
  user_id      uuid NOT NULL REFERENCES users (id),
  added_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (facility_id, pool, user_id),
  FOREIGN KEY (facility_id, pool) REFERENCES specialty_pools (facility_id, pool) ON DELETE CASCADE
);
CREATE INDEX specialty_pool_members_user_idx ON specialty_pool_members (user_id);

-- STAT escalation state, one row per STAT request. The row is the truth; BullMQ delayed jobs
-- are only the timers (escalation.ts): each step is applied by one conditional UPDATE on
-- `level`, so a job run twice, or by two gateways, escalates once. next_at NULL: finished
-- (acknowledged, claimed, cancelled, or the last reminder was sent).
CREATE TABLE stat_escalations (
  request_id       uuid PRIMARY KEY REFERENCES read_requests (id),
  level            integer NOT NULL DEFAULT 0 CHECK (level >= 0),
  next_at          timestamptz,
  last_escalated_at timestamptz,
  acknowledged_at  timestamptz,
  acknowledged_by  uuid REFERENCES users (id),
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stat_escalations_due_idx ON stat_escalations (next_at) WHERE next_at IS NOT NULL;

-- The recent events of the reading workflow (ids and statuses only, never patient data), for
-- Last-Event-ID replay of server-sent events; pruned after RADLINK_EVENT_LOG_HOURS.
CREATE TABLE reading_events (
  id                      bigserial PRIMARY KEY,
  type                    text NOT NULL,
  request_id              uuid NOT NULL,
  requesting_facility_id  text NOT NULL,
  target_facility_id      text NOT NULL,
  -- NULL: everyone who may see the request; else only these users (escalation audiences).
  recipients              uuid[],
  data                    jsonb NOT NULL,
  created_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reading_events_created_idx ON reading_events (created_at);

-- One webhook per facility. The secret signs every delivery (HMAC-SHA256); it is stored
-- encrypted under a key derived from RADLINK_TOKEN_SECRET and never returned by the API.
CREATE TABLE facility_webhooks (
  facility_id       text PRIMARY KEY REFERENCES facilities (id),
  url               text NOT NULL CHECK (url ~ '^https?://'),
  encrypted_secret  jsonb NOT NULL,
  enabled           boolean NOT NULL DEFAULT true,
  -- Event types delivered; NULL: all.
  event_types       text[],
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

-- The delivery log the facility admin reads. The payload is a copy of the event (ids and
-- statuses only), so a delivery outlives the pruned event log.
CREATE TABLE webhook_deliveries (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  facility_id       text NOT NULL REFERENCES facilities (id),
  event_id          bigint NOT NULL,
  event_type        text NOT NULL,
  url               text NOT NULL,
  payload           jsonb NOT NULL,
  status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts          integer NOT NULL DEFAULT 0,
  last_status_code  integer,
  last_error        text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  delivered_at      timestamptz,
  UNIQUE (facility_id, event_id)
);
CREATE INDEX webhook_deliveries_facility_idx ON webhook_deliveries (facility_id, created_at DESC);
