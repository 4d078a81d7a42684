-- The DICOM Key Object Selection (KOS) that publishes a study's key images (042) into the study,
-- one row per study that ever had one (server/src/reading/key-images/publish.ts).
--  - revision: bumped before each publication is built; the KOS of revision N has a SOP Instance
--    UID derived from (study, N), so a changed list never reuses a UID (Orthanc keeps the first
--    object stored under a UID). A publication records itself only if its revision is still the
--    latest, so the last one started wins and no two are current.
--  - sop_instance_uid/series_uid: the one current RadLink KOS in Orthanc and the index (NULL when
--    the list is empty and nothing is published); content_sha256 is the hash of what it holds.
--  - superseded: KOS UIDs still to remove from Orthanc and the index: replaced ones whose removal
--    failed, and the one a publication is storing until it is recorded (so a publication that
--    dies midway leaves nothing unknown behind); the next publication removes them.
--  - last_error/failed_at: the last failed publication (reason without patient data); cleared
--    by the next successful one.
CREATE TABLE key_image_kos (
  study_uid         text PRIMARY KEY REFERENCES studies (study_uid) ON DELETE CASCADE,
  revision          integer NOT NULL DEFAULT 0,
  sop_instance_uid  text,
  series_uid        text,
  content_sha256    text,
  published_at      timestamptz,
  superseded        text[] NOT NULL DEFAULT '{}',
  last_error        text,
  failed_at         timestamptz
);
