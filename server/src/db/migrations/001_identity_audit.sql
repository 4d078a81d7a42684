-- Identity: facilities, users, sessions. Audit: an append-only trail of access to patient data.
-- PostgreSQL 15 dialect; also runs on PGlite.

CREATE TABLE facilities (
  id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name        text NOT NULL,
  tier        text NOT NULL CHECK (tier IN ('central', 'provincial', 'district', 'commune')),
  parent_id   text REFERENCES facilities (id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One AE title maps to exactly one facility.
CREATE TABLE facility_ae_titles (
  ae_title    text PRIMARY KEY CHECK (ae_title ~ '^[A-Za-z0-9_.-]{1,16}$'),
  facility_id text NOT NULL REFERENCES facilities (id) ON DELETE CASCADE,
  host        text,
  port        integer CHECK (port BETWEEN 1 AND 65535)
);

CREATE TABLE users (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  username       text NOT NULL CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,62}$'),
  display_name   text NOT NULL,
  role           text NOT NULL CHECK (role IN ('system_admin', 'facility_admin', 'radiologist',
                                               'referring_doctor', 'model_manager', 'service')),
  facility_id    text REFERENCES facilities (id),
  password_hash  text NOT NULL,
  totp_secret    text,
  totp_enabled   boolean NOT NULL DEFAULT false,
  disabled_at    timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  -- Everybody except system admins, model managers and service accounts belongs to a facility.
  CHECK (facility_id IS NOT NULL OR role IN ('system_admin', 'model_manager', 'service'))
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE sessions (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- SHA-256 of the cookie secret; the secret itself is never stored.
  secret_hash   text NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  revoked_at    timestamptz,
  client_ip     text,
  user_agent    text
);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;

-- Append-only: the trigger below refuses UPDATE, DELETE and TRUNCATE for every role,
-- including the owner, so neither a bug nor an attacker holding the app's credentials can
-- rewrite history (IHE ATNA spirit: who, what, when, from where, outcome).
CREATE TABLE audit_events (
  id           bigserial PRIMARY KEY,
  at           timestamptz NOT NULL DEFAULT now(),
  user_id      uuid,
  username     text,
  role         text,
  facility_id  text,
  action       text NOT NULL,
  study_uid    text,
  resource     text,
  client_ip    text,
  outcome      text NOT NULL CHECK (outcome IN ('success', 'denied', 'not-found', 'error')),
  status_code  integer,
  detail       jsonb,
  -- Set for high-volume reads (frames, thumbnails): one row per user x study x hour.
  dedupe_key   text UNIQUE
);
CREATE INDEX audit_events_study_idx ON audit_events (study_uid, at);
CREATE INDEX audit_events_user_idx ON audit_events (user_id, at);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
