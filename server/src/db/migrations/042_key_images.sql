-- Key images: the slices a radiologist marks as the ones that matter in a study (one shared list
-- per study, as a DICOM Key Object Selection would hold), each with an optional note and who marked
-- it. A frame is 1-based (PS3.3 Referenced Frame Number); single-frame images use frame 1.
-- The study's rows go with the study (a retention deletion or a re-index drops them).
CREATE TABLE key_images (
  study_uid         text NOT NULL REFERENCES studies (study_uid) ON DELETE CASCADE,
  sop_instance_uid  text NOT NULL,
  frame             integer NOT NULL DEFAULT 1 CHECK (frame >= 1),
  series_uid        text NOT NULL,
  note              text CHECK (note IS NULL OR char_length(note) <= 500),
  marked_by         uuid REFERENCES users (id),
  marked_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (study_uid, sop_instance_uid, frame)
);
