-- Delivery of signed reports: the PDF in S3 and the DICOM copy (Encapsulated PDF) in the study,
-- one row per signed report or addendum. The row binds the copies to the signed record: it
-- names the content hash and the SHA-256 of the exact signature (JWS) they were made from, and
-- the SHA-256 of the PDF and of the DICOM file as stored. Verification recomputes the hashes of
-- what S3 and Orthanc hold now and compares them with this row.

CREATE TABLE report_deliveries (
  report_id               uuid PRIMARY KEY REFERENCES reports (id),
  -- Copied from the signed record at generation; must equal reports.content_hash.
  content_hash            text NOT NULL,
  -- SHA-256 (hex) of report_signatures.signature (the compact JWS) the copies embed.
  signature_sha256        text NOT NULL,
  -- Flat S3 key (report-pdf/<report uuid>.pdf): no patient data in object names.
  pdf_key                 text NOT NULL UNIQUE,
  pdf_sha256              text NOT NULL CHECK (pdf_sha256 ~ '^[0-9a-f]{64}$'),
  pdf_size_bytes          bigint NOT NULL,
  pdf_created_at          timestamptz NOT NULL DEFAULT now(),
  -- The Encapsulated PDF instance in Orthanc (UIDs derived from the report id: re-runs do not duplicate).
  dicom_study_uid         text,
  dicom_series_uid        text,
  dicom_sop_instance_uid  text UNIQUE,
  dicom_sha256            text CHECK (dicom_sha256 ~ '^[0-9a-f]{64}$'),
  dicom_stored_at         timestamptz,
  -- The Basic Text SR of the same report (its own series: SR documents have modality SR), stored
  -- and recorded together with the Encapsulated PDF.
  sr_series_uid           text,
  sr_sop_instance_uid     text UNIQUE,
  sr_sha256               text CHECK (sr_sha256 ~ '^[0-9a-f]{64}$'),
  CHECK ((dicom_sha256 IS NULL) = (dicom_sop_instance_uid IS NULL)),
  CHECK ((dicom_sha256 IS NULL) = (dicom_stored_at IS NULL)),
  CHECK ((dicom_sha256 IS NULL) = (sr_sha256 IS NULL) AND (sr_sha256 IS NULL) = (sr_sop_instance_uid IS NULL))
);

-- A delivery row is written twice: the PDF first, then the DICOM copies once Orthanc holds them.
-- Anything else (changing a recorded hash, key or UID, deleting the row) is refused, like the
-- signed records themselves.
CREATE FUNCTION report_deliveries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_LEVEL = 'ROW' AND TG_OP = 'UPDATE' THEN
    IF OLD.dicom_sha256 IS NULL
       AND NEW.report_id = OLD.report_id AND NEW.content_hash = OLD.content_hash
       AND NEW.signature_sha256 = OLD.signature_sha256 AND NEW.pdf_key = OLD.pdf_key
       AND NEW.pdf_sha256 = OLD.pdf_sha256 AND NEW.pdf_size_bytes = OLD.pdf_size_bytes
       AND NEW.pdf_created_at = OLD.pdf_created_at THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION '% of a report delivery record is refused: delivered copies are bound to the signed report', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER report_deliveries_immutable BEFORE UPDATE OR DELETE ON report_deliveries
  FOR EACH ROW EXECUTE FUNCTION report_deliveries_append_only();
CREATE TRIGGER report_deliveries_no_truncate BEFORE TRUNCATE ON report_deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION report_deliveries_append_only();
