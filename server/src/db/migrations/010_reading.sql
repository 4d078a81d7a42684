-- Remote reading: read requests from lower-tier facilities, the discussion on each, reports and
-- their signatures, and the deployment's demo CA (signing credentials, revocation list).
-- PostgreSQL 15 dialect; also runs on PGlite.

-- AI triage flag on a study (NULL: no AI result yet; true: a model flagged a finding). The AI
-- results consumer sets it; the worklist sorts flagged studies first within a priority.
ALTER TABLE studies ADD COLUMN IF NOT EXISTS ai_flag boolean;

-- Accession numbers assigned when the requester's study has none: RL + a sequence.
CREATE SEQUENCE read_request_accession_seq;

CREATE TABLE read_requests (
  id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  study_uid               text NOT NULL REFERENCES studies (study_uid),
  requesting_facility_id  text NOT NULL REFERENCES facilities (id),
  requester_id            uuid NOT NULL REFERENCES users (id),
  target_facility_id      text NOT NULL REFERENCES facilities (id),
  -- A specialty pool at the target (neuro, chest, ...); NULL: the whole facility.
  specialty_pool          text CHECK (specialty_pool ~ '^[a-z0-9][a-z0-9-]{0,39}$'),
  priority                text NOT NULL CHECK (priority IN ('routine', 'urgent', 'stat')),
  clinical_info           text NOT NULL,
  question                text NOT NULL,
  accession_number        text NOT NULL,
  accession_assigned      boolean NOT NULL DEFAULT false,
  status                  text NOT NULL DEFAULT 'requested'
                            CHECK (status IN ('requested', 'claimed', 'reported', 'signed', 'cancelled')),
  claimed_by              uuid REFERENCES users (id),
  claimed_at              timestamptz,
  -- From the per-priority turnaround target at creation time; a later config change does not move it.
  due_at                  timestamptz NOT NULL,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  signed_at               timestamptz,
  cancelled_at            timestamptz,
  cancel_reason           text,
  CHECK (target_facility_id <> requesting_facility_id),
  -- The claim is the lock others see: a claimed (or reported) request always names its holder.
  CHECK (status NOT IN ('claimed', 'reported') OR claimed_by IS NOT NULL),
  CHECK (status <> 'requested' OR claimed_by IS NULL)
);
-- The worklist: a target facility's open requests, in priority then waiting order.
CREATE INDEX read_requests_worklist_idx ON read_requests (target_facility_id, status, priority, created_at);
CREATE INDEX read_requests_requester_idx ON read_requests (requesting_facility_id, created_at DESC);
CREATE INDEX read_requests_study_idx ON read_requests (study_uid);
-- One open request per study and target: a second one would split the radiologists' work.
CREATE UNIQUE INDEX read_requests_open_key ON read_requests (study_uid, target_facility_id)
  WHERE status IN ('requested', 'claimed', 'reported');

CREATE TABLE request_attachments (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  request_id    uuid NOT NULL REFERENCES read_requests (id),
  -- Flat S3 key (reading-attachments/<uuid>): no patient data in object names.
  s3_key        text NOT NULL UNIQUE,
  filename      text NOT NULL,
  content_type  text NOT NULL,
  size_bytes    bigint NOT NULL,
  sha256        text NOT NULL,
  uploaded_by   uuid NOT NULL REFERENCES users (id),
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX request_attachments_request_idx ON request_attachments (request_id, created_at);

CREATE TABLE request_messages (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  request_id  uuid NOT NULL REFERENCES read_requests (id),
  author_id   uuid NOT NULL REFERENCES users (id),
  body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX request_messages_request_idx ON request_messages (request_id, created_at);

-- The demo CA (one row per CA; the built-in one is 'demo'). Its private key is encrypted with a
-- key derived from the gateway's token secret, so a database dump alone cannot issue certificates.
CREATE TABLE signing_cas (
  id                     text PRIMARY KEY,
  certificate_pem        text NOT NULL,
  encrypted_private_key  text NOT NULL,
  created_at             timestamptz NOT NULL DEFAULT now()
);

-- A radiologist's signing credential: a key pair whose private half is encrypted under a key
-- derived from the radiologist's PIN (scrypt), and the certificate the CA issued for it.
CREATE TABLE signer_credentials (
  id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id                uuid NOT NULL REFERENCES users (id),
  ca_id                  text NOT NULL REFERENCES signing_cas (id),
  certificate_pem        text NOT NULL,
  serial_number          text NOT NULL UNIQUE,
  not_before             timestamptz NOT NULL,
  not_after              timestamptz NOT NULL,
  -- JSON {kdf, salt, iv, tag, ciphertext} (base64url); never the PIN or the clear key.
  wrapped_private_key    jsonb NOT NULL,
  failed_pin_attempts    integer NOT NULL DEFAULT 0,
  locked_until           timestamptz,
  superseded_at          timestamptz,
  created_at             timestamptz NOT NULL DEFAULT now()
);
-- One current credential per user; re-enrolling supersedes the previous one.
CREATE UNIQUE INDEX signer_credentials_current_key ON signer_credentials (user_id) WHERE superseded_at IS NULL;

-- The CA's revocation list. Append-only: revocation is final.
CREATE TABLE revoked_certificates (
  serial_number  text PRIMARY KEY,
  ca_id          text NOT NULL REFERENCES signing_cas (id),
  revoked_at     timestamptz NOT NULL DEFAULT now(),
  reason         text NOT NULL,
  revoked_by     uuid REFERENCES users (id)
);

CREATE TABLE reports (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  request_id        uuid NOT NULL REFERENCES read_requests (id),
  study_uid         text NOT NULL REFERENCES studies (study_uid),
  -- Set on an addendum: the signed report it corrects or completes.
  parent_report_id  uuid REFERENCES reports (id),
  author_id         uuid NOT NULL REFERENCES users (id),
  template_id       text NOT NULL,
  language          text NOT NULL CHECK (language IN ('vi', 'en')),
  fields            jsonb NOT NULL DEFAULT '{}',
  free_text         text NOT NULL DEFAULT '',
  status            text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'final')),
  -- Incremented on every draft save: optimistic concurrency for autosave from two tabs.
  version           integer NOT NULL DEFAULT 1,
  -- SHA-256 (hex) of the canonical content that was signed; set with status 'final'.
  content_hash      text,
  signed_at         timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK (status = 'draft' OR (content_hash IS NOT NULL AND signed_at IS NOT NULL))
);
-- One main report per request; addenda hang off it.
CREATE UNIQUE INDEX reports_request_main_key ON reports (request_id) WHERE parent_report_id IS NULL;
CREATE INDEX reports_parent_idx ON reports (parent_report_id, created_at);

-- The signature over a report's canonical content, with what was judged at signing time.
CREATE TABLE report_signatures (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  report_id            uuid NOT NULL UNIQUE REFERENCES reports (id),
  signer_id            uuid NOT NULL REFERENCES users (id),
  -- Which Signer produced it ('demo-ca', or a national CA adapter): verify goes to the same one.
  signer_kind          text NOT NULL,
  -- The signer's name as signed (a later rename of the account must not break verification).
  signer_name          text NOT NULL,
  -- Compact JWS (or another format the signer_kind defines) embedding the certificate chain.
  signature            text NOT NULL,
  certificate_serial   text NOT NULL,
  certificate_chain    jsonb NOT NULL,       -- PEM strings, leaf first
  cert_status          text NOT NULL CHECK (cert_status IN ('good')),
  cert_checked_at      timestamptz NOT NULL,
  signed_at            timestamptz NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now()
);

-- Signed records are immutable (Circular 46/2018, now 13/2025): a final report and every
-- signature refuse UPDATE and DELETE for every role, including the owner. A draft may be
-- updated (autosave) and finalised — the transition itself is the last allowed UPDATE.
CREATE FUNCTION reports_signed_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Nested IFs: OLD is unassigned in a statement-level (TRUNCATE) trigger.
  IF TG_LEVEL = 'ROW' AND TG_TABLE_NAME = 'reports' THEN
    IF OLD.status = 'draft' THEN
      IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION '% of a signed record is refused: signed reports are immutable, write an addendum', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER reports_immutable BEFORE UPDATE OR DELETE ON reports
  FOR EACH ROW EXECUTE FUNCTION reports_signed_immutable();
CREATE TRIGGER report_signatures_immutable BEFORE UPDATE OR DELETE ON report_signatures
  FOR EACH ROW EXECUTE FUNCTION reports_signed_immutable();
CREATE TRIGGER revoked_certificates_immutable BEFORE UPDATE OR DELETE ON revoked_certificates
  FOR EACH ROW EXECUTE FUNCTION reports_signed_immutable();
CREATE TRIGGER reports_no_truncate BEFORE TRUNCATE ON reports
  FOR EACH STATEMENT EXECUTE FUNCTION reports_signed_immutable();
CREATE TRIGGER report_signatures_no_truncate BEFORE TRUNCATE ON report_signatures
  FOR EACH STATEMENT EXECUTE FUNCTION reports_signed_immutable();
CREATE TRIGGER revoked_certificates_no_truncate BEFORE TRUNCATE ON revoked_certificates
  FOR EACH STATEMENT EXECUTE FUNCTION reports_signed_immutable();
