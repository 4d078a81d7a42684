-- Instances Orthanc holds that cannot be indexed (no valid Study/Series/SOP Instance UID, e.g. a
-- malformed C-STORE Orthanc accepted). They are invisible to QIDO and access checks, so they are
-- recorded here with the reason, reported by the drift count as "unindexable" (not as drift that a
-- repair could fix) and left in Orthanc for an operator to inspect or delete.
CREATE TABLE index_rejects (
  orthanc_id  text PRIMARY KEY,
  reason      text NOT NULL,
  seen_at     timestamptz NOT NULL DEFAULT now()
);
