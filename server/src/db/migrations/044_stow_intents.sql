-- What STOW-RS is about to store, and for whom (issue 7, "faults, nothing lost"). A row is written
-- before the instance is POSTed to Orthanc and removed once the index holds it. If the gateway dies
-- between Orthanc's acknowledgment and the index write, Orthanc holds an instance the index does
-- not; the change feed and the repair then find this row by SOP Instance UID, check that the stored
-- file hashes to the same SHA-256, and attribute the instance to the uploader's facility (source
-- 'stow') instead of to no facility. See server/src/index/stow-intents.ts.
CREATE TABLE stow_intents (
  sop_instance_uid  text NOT NULL,
  -- SHA-256 of the Part 10 bytes STOW received (hex): the evidence that Orthanc's object is this one.
  sha256            text NOT NULL,
  size_bytes        bigint NOT NULL,
  facility_id       text NOT NULL REFERENCES facilities (id) ON DELETE CASCADE,
  -- The uploader (users.id; kept for the record, not a foreign key: users are never deleted).
  user_id           text NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sop_instance_uid, sha256)
);
CREATE INDEX stow_intents_created_idx ON stow_intents (created_at);
