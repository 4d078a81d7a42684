-- The gateway's own study index (QIDO is answered from here, not from Orthanc), kept in step
-- with Orthanc by the change feed and at STOW time; plus the grants that share a study with
-- another facility. Patient-level attributes are denormalised onto studies: QIDO filters and
-- sorts studies, and a join per query would cost more than the duplication.

CREATE TABLE studies (
  study_uid                   text PRIMARY KEY,
  -- Owning facility: from the AE title (DIMSE) or the uploader (STOW). NULL = not attributed,
  -- visible to system admins only until someone attributes it.
  facility_id                 text REFERENCES facilities (id),
  orthanc_id                  text,
  patient_id                  text,
  issuer_of_patient_id        text,
  patient_name                text,            -- DICOM PN, NFC
  patient_name_folded         text,            -- foldForSearch(patient_name): no case, no diacritics, đ→d
  patient_birth_date          text,
  patient_sex                 text,
  other_patient_ids           jsonb,           -- [{id, issuer, type}] (BHXH, CCCD, ...)
  study_date                  text,            -- YYYYMMDD
  study_time                  text,            -- HHMMSS.ffffff, normalised for range matching
  accession_number            text,
  study_id                    text,
  study_description           text,
  referring_physician_name    text,
  referring_physician_folded  text,
  modalities                  text[] NOT NULL DEFAULT '{}',
  num_series                  integer NOT NULL DEFAULT 0,
  num_instances               integer NOT NULL DEFAULT 0,
  -- Study-level DICOM JSON (PS3.18 Annex F) of the first indexed instance, for includefield.
  dicom_json                  jsonb,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now()
);
-- QIDO's one sort order (newest first, then UID for a stable page boundary) with and without a
-- facility: the LIMIT is applied while walking these indexes, so a page costs ~limit+offset rows.
CREATE INDEX studies_facility_date_idx ON studies (facility_id, study_date DESC NULLS LAST, study_time DESC NULLS LAST, study_uid);
CREATE INDEX studies_date_idx ON studies (study_date DESC NULLS LAST, study_time DESC NULLS LAST, study_uid);
CREATE INDEX studies_patient_idx ON studies (patient_id, issuer_of_patient_id);
-- text_pattern_ops: prefix LIKE ('nguyen van%') uses the index whatever the database collation.
CREATE INDEX studies_name_idx ON studies (patient_name_folded text_pattern_ops);
CREATE INDEX studies_accession_idx ON studies (accession_number);
CREATE INDEX studies_modalities_idx ON studies USING gin (modalities);
CREATE INDEX studies_orthanc_idx ON studies (orthanc_id);

-- The words of every folded patient name, for fuzzy (word-prefix) matching: `nguyen thi` fuzzy is
-- "some word starts with nguyen AND some word starts with thi", i.e. one prefix range scan per
-- query word on this btree. Chosen over pg_trgm because it needs no extension (PGlite would have
-- to load one at open) and a prefix range scan is exact and cheap on both engines.
CREATE TABLE study_name_words (
  study_uid  text NOT NULL REFERENCES studies (study_uid) ON DELETE CASCADE,
  word       text NOT NULL,
  PRIMARY KEY (study_uid, word)
);
CREATE INDEX study_name_words_word_idx ON study_name_words (word text_pattern_ops, study_uid);

-- QIDO queries are short, LIMITed index walks: launching parallel workers costs more (~15 ms
-- measured at 100k studies) than the whole query, so the planner must not choose them here.
ALTER TABLE studies SET (parallel_workers = 0);
ALTER TABLE study_name_words SET (parallel_workers = 0);

CREATE TABLE series (
  series_uid          text PRIMARY KEY,
  study_uid           text NOT NULL REFERENCES studies (study_uid) ON DELETE CASCADE,
  orthanc_id          text,
  modality            text,
  series_number       integer,
  series_description  text,
  body_part_examined  text,
  series_date         text,
  series_time         text,
  num_instances       integer NOT NULL DEFAULT 0,
  dicom_json          jsonb,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX series_study_idx ON series (study_uid, series_number);
CREATE INDEX series_orthanc_idx ON series (orthanc_id);

CREATE TABLE instances (
  sop_instance_uid     text PRIMARY KEY,
  series_uid           text NOT NULL REFERENCES series (series_uid) ON DELETE CASCADE,
  study_uid            text NOT NULL REFERENCES studies (study_uid) ON DELETE CASCADE,
  orthanc_id           text,
  sop_class_uid        text,
  instance_number      integer,
  transfer_syntax_uid  text,
  number_of_frames     integer,
  rows                 integer,
  columns              integer,
  size_bytes           bigint,
  -- SHA-256 of the stored Part 10 bytes: identity for idempotent STOW and the archive's content address.
  sha256               text,
  source               text CHECK (source IN ('stow', 'dimse', 'rest', 'derived')),
  source_aet           text,
  received_at          timestamptz NOT NULL DEFAULT now(),
  archive_key          text,
  archived_at          timestamptz,
  dicom_json           jsonb
);
CREATE INDEX instances_series_idx ON instances (series_uid, instance_number);
CREATE INDEX instances_study_idx ON instances (study_uid);
CREATE INDEX instances_orthanc_idx ON instances (orthanc_id);
CREATE INDEX instances_unarchived_idx ON instances (received_at) WHERE archived_at IS NULL;

-- A study shared with another facility (remote reading). `include_priors` extends the grant to
-- prior studies of the same patient at the owning facility.
CREATE TABLE study_grants (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  study_uid       text NOT NULL REFERENCES studies (study_uid) ON DELETE CASCADE,
  facility_id     text NOT NULL REFERENCES facilities (id),
  include_priors  boolean NOT NULL DEFAULT true,
  reason          text NOT NULL,
  source_id       text,            -- e.g. the read request that created it
  granted_by      uuid REFERENCES users (id),
  created_at      timestamptz NOT NULL DEFAULT now(),
  revoked_at      timestamptz
);
CREATE INDEX study_grants_facility_idx ON study_grants (facility_id) WHERE revoked_at IS NULL;
CREATE INDEX study_grants_study_idx ON study_grants (study_uid) WHERE revoked_at IS NULL;

-- Where the change-feed consumer stopped (Orthanc /changes sequence), so a restart resumes.
CREATE TABLE feed_cursors (
  name        text PRIMARY KEY,
  last_seq    bigint NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
