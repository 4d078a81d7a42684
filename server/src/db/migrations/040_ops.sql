-- Operations: retention policies and legal holds, break-glass grants, de-identified exports.
-- PostgreSQL 15 dialect; also runs on PGlite.

-- How long a facility keeps its studies. `modality_years` overrides `default_years` per modality
-- ({"CT": 10, "US": 5}); a study with several modalities is kept for the longest that applies.
-- NULL default_years with no modality entry: kept forever. `archive_copy` says whether the S3
-- copy is deleted with the Orthanc copy or kept (e.g. cold storage for the legal period).
CREATE TABLE retention_policies (
  facility_id     text PRIMARY KEY REFERENCES facilities (id) ON DELETE CASCADE,
  default_years   integer CHECK (default_years BETWEEN 1 AND 200),
  modality_years  jsonb NOT NULL DEFAULT '{}',
  archive_copy    text NOT NULL DEFAULT 'keep' CHECK (archive_copy IN ('keep', 'delete')),
  updated_by      uuid REFERENCES users (id),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- A legal hold keeps a study whatever its retention says (litigation, investigation).
-- Not a foreign key: a hold may be placed before the study reaches the index, and it must
-- survive anything that happens to the index row.
CREATE TABLE legal_holds (
  study_uid    text PRIMARY KEY,
  reason       text NOT NULL CHECK (length(reason) BETWEEN 3 AND 500),
  placed_by    uuid REFERENCES users (id),
  placed_at    timestamptz NOT NULL DEFAULT now()
);

-- Archive copies that retention kept (policy archive_copy = 'keep') after it removed the study
-- from Orthanc and the index: where each instance's bytes are, so they can still be restored.
CREATE TABLE retained_archive (
  sop_instance_uid  text PRIMARY KEY,
  study_uid         text NOT NULL,
  series_uid        text NOT NULL,
  facility_id       text,
  archive_key       text NOT NULL,
  sha256            text,
  expired_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX retained_archive_study_idx ON retained_archive (study_uid);

-- Set when retention removed a study's images but the index row had to stay because records
-- that must outlive the images (read requests, signed reports) refer to it.
ALTER TABLE studies ADD COLUMN IF NOT EXISTS images_expired_at timestamptz;

-- Emergency access to one study outside the caller's grants, for one user, for a short time,
-- with a stated reason; every one is listed for review.
CREATE TABLE break_glass_grants (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id      uuid NOT NULL REFERENCES users (id),
  username     text NOT NULL,
  facility_id  text REFERENCES facilities (id),
  study_uid    text NOT NULL,
  reason       text NOT NULL CHECK (length(reason) BETWEEN 10 AND 1000),
  client_ip    text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  reviewed_by  uuid REFERENCES users (id),
  reviewed_at  timestamptz,
  review_note  text
);
CREATE INDEX break_glass_user_idx ON break_glass_grants (user_id, expires_at);
CREATE INDEX break_glass_review_idx ON break_glass_grants (created_at DESC) WHERE reviewed_at IS NULL;

-- De-identified exports for research and AI training. The UID key that made the export is never
-- stored: nobody can map the export back to the originals.
CREATE TABLE exports (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  requested_by     uuid NOT NULL REFERENCES users (id),
  facility_id      text REFERENCES facilities (id),
  purpose          text NOT NULL CHECK (length(purpose) BETWEEN 3 AND 500),
  study_uids       text[] NOT NULL,
  status           text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
  -- Flat S3 key (export-<uuid>.zip): no patient data in object names.
  s3_key           text,
  instances        integer NOT NULL DEFAULT 0,
  refused          integer NOT NULL DEFAULT 0,
  flagged          integer NOT NULL DEFAULT 0,
  size_bytes       bigint,
  error            text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz
);
CREATE INDEX exports_requester_idx ON exports (requested_by, created_at DESC);
