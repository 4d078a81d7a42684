-- The code printed in a signed report's QR code: with the report id it lets anyone holding the
-- paper (patient, another hospital, an insurer) check the signature without an account, and
-- without making report ids enumerable. Random, set once when the report is first delivered
-- (so re-running delivery prints the same code), never derived from a rotatable secret. A table
-- of its own because signed report rows are immutable (010_reading's trigger).
CREATE TABLE report_verify_codes (
  report_id   uuid PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,
  code        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
