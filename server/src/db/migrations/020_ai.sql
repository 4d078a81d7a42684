-- AI: the model registry, runs (one per series × model version), findings and radiologists'
-- feedback. Workers never write here: the gateway applies their results messages.

-- A model version known to this installation: bundled (models/ in the repository, announced by
-- the workers at start) or uploaded through the API. Its files live in S3 (manifest by id and
-- version, network by SHA-256). At most one version of a model is enabled at a time; any number
-- may run in shadow mode (results stored, never shown to clinicians nor flagging a study).
CREATE TABLE ai_models (
  model_id        text NOT NULL CHECK (model_id ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  version         text NOT NULL,
  name            text NOT NULL,
  manifest        jsonb NOT NULL,
  sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  source          text NOT NULL CHECK (source IN ('bundled', 'uploaded')),
  status          text NOT NULL CHECK (status IN ('enabled', 'disabled', 'shadow')),
  -- When this version was last enabled: rollback returns to the most recently enabled other one.
  enabled_at      timestamptz,
  results_withdrawn_at timestamptz,
  registered_at   timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  updated_by      uuid REFERENCES users (id) ON DELETE SET NULL,
  PRIMARY KEY (model_id, version)
);
CREATE UNIQUE INDEX ai_models_one_enabled ON ai_models (model_id) WHERE status = 'enabled';

-- One run of one model version on one series. The id is derived from (series, model, version),
-- as are the SEG/SR UIDs; `attempt` counts explicit re-runs.
CREATE TABLE ai_runs (
  id              text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
  study_uid       text NOT NULL REFERENCES studies (study_uid) ON DELETE CASCADE,
  series_uid      text NOT NULL,
  model_id        text NOT NULL,
  model_version   text NOT NULL,
  facility_id     text REFERENCES facilities (id) ON DELETE SET NULL,
  shadow          boolean NOT NULL DEFAULT false,
  attempt         integer NOT NULL DEFAULT 1,
  status          text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'skipped')),
  failed_stage    text,
  reason          text,
  flagged         boolean NOT NULL DEFAULT false,
  alert_reason    text,
  seg_series_uid  text,
  seg_sop_instance_uid text,
  sr_series_uid   text,
  sr_sop_instance_uid text,
  inference_ms    double precision,
  queue_wait_ms   double precision,
  total_ms        double precision,
  timings         jsonb,
  queued_at       timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  withdrawn_at    timestamptz,
  FOREIGN KEY (model_id, model_version) REFERENCES ai_models (model_id, version)
);
CREATE INDEX ai_runs_study_idx ON ai_runs (study_uid);
CREATE INDEX ai_runs_model_idx ON ai_runs (model_id, model_version);

CREATE TABLE ai_findings (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  run_id          text NOT NULL REFERENCES ai_runs (id) ON DELETE CASCADE,
  finding_index   integer NOT NULL,
  segment_number  integer NOT NULL,
  label           text NOT NULL,
  centroid_lps    double precision[] NOT NULL,
  referenced_sop_instance_uid text NOT NULL,
  longest_diameter_mm double precision NOT NULL,
  axial_longest_diameter_mm double precision NOT NULL,
  volume_ml       double precision NOT NULL,
  mean_intensity  double precision NOT NULL,
  confidence      double precision NOT NULL,
  UNIQUE (run_id, finding_index)
);

-- A radiologist's verdict on a finding: the latest wins (the audit trail keeps every call).
CREATE TABLE ai_feedback (
  finding_id      uuid PRIMARY KEY REFERENCES ai_findings (id) ON DELETE CASCADE,
  verdict         text NOT NULL CHECK (verdict IN ('accepted', 'rejected')),
  comment         text,
  user_id         uuid NOT NULL REFERENCES users (id),
  at              timestamptz NOT NULL DEFAULT now()
);
