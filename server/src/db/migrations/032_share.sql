-- Patient share links: one study, read-only, time-limited, revocable, opened with the token from
-- the QR code plus a PIN (or the patient's birth year). Neither the token nor the secret is
-- stored: the token as SHA-256 (it is 256 random bits, so a fast hash suffices and lookups stay
-- indexable), the secret with scrypt (a 6-digit PIN or a year has little entropy of its own).
-- PostgreSQL 15 dialect; also runs on PGlite.

CREATE TABLE share_links (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  study_uid        text NOT NULL REFERENCES studies (study_uid),
  -- SHA-256 (hex) of the token in the link.
  token_hash       text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  secret_kind      text NOT NULL CHECK (secret_kind IN ('pin', 'birth-year')),
  -- scrypt$N$r$p$salt$hash (server/src/identity/passwords.ts) of the PIN or the year.
  secret_hash      text NOT NULL,
  created_by       uuid NOT NULL REFERENCES users (id),
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  revoked_at       timestamptz,
  revoked_by       uuid REFERENCES users (id),
  -- Wrong secrets in a row; reset by a right one. Reaching the limit sets locked_at for good.
  failed_attempts  integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
  locked_at        timestamptz,
  open_count       integer NOT NULL DEFAULT 0,
  last_opened_at   timestamptz,
  CHECK (expires_at > created_at),
  CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE INDEX share_links_study_idx ON share_links (study_uid, created_at DESC);

-- A viewing session opened from a link (cookie radlink_share or an rls_ bearer). Only a SHA-256 of
-- its secret is stored. Its lifetime never exceeds the link's; revoking the link ends it at once
-- because every request checks the link too.
CREATE TABLE share_sessions (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  link_id      uuid NOT NULL REFERENCES share_links (id),
  secret_hash  text NOT NULL UNIQUE CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  ended_at     timestamptz,
  client_ip    text
);
CREATE INDEX share_sessions_link_idx ON share_sessions (link_id);
