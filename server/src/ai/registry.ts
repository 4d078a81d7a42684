/**
 * The model registry (table ai_models): which model versions this installation knows and what
 * each may do — enabled (results shown, studies flagged; one version per model), shadow
 * (results stored for the model manager only) or disabled. Rollback re-enables the most
 * recently enabled other version; withdrawal hides every result of a disabled version and
 * recomputes the flags of the studies it had touched.
 */
import type { ModelManifest } from '../../../contracts/model-manifest.js';
import type { Db } from '../db/client.js';
import { AppError } from '../plugins/errors.js';
import { recomputeFlags } from './flags.js';

export type ModelStatus = 'enabled' | 'disabled' | 'shadow';

export interface ModelRow {
  modelId: string;
  version: string;
  name: string;
  manifest: ModelManifest;
  sha256: string;
  source: 'bundled' | 'uploaded';
  status: ModelStatus;
  enabledAt: Date | null;
  resultsWithdrawnAt: Date | null;
  registeredAt: Date;
  updatedAt: Date;
}

const COLS = `model_id AS "modelId", version, name, manifest, sha256, source, status, enabled_at AS "enabledAt",
  results_withdrawn_at AS "resultsWithdrawnAt", registered_at AS "registeredAt", updated_at AS "updatedAt"`;

const NO_MODEL = () => new AppError('RADLINK_NOT_FOUND', 'No such model version.');

export class ModelRegistry {
  constructor(private readonly db: Db) {}

  list(): Promise<ModelRow[]> {
    return this.db.query<ModelRow>(`SELECT ${COLS} FROM ai_models ORDER BY model_id, registered_at, version`);
  }

  async get(modelId: string, version: string): Promise<ModelRow | null> {
    return (
      (
        await this.db.query<ModelRow>(`SELECT ${COLS} FROM ai_models WHERE model_id = $1 AND version = $2`, [
          modelId,
          version,
        ])
      )[0] ?? null
    );
  }

  /** Versions that run on new series: enabled and shadow. */
  active(): Promise<ModelRow[]> {
    return this.db.query<ModelRow>(`SELECT ${COLS} FROM ai_models WHERE status IN ('enabled', 'shadow')`);
  }

  /**
   * A bundled model announced by a worker. The first version of a model is enabled at once (the
   * shipped defaults work out of the box); later bundled versions arrive disabled. A bundled
   * version's files may be rebuilt: its manifest and hash follow.
   */
  async registerBundled(m: ModelManifest): Promise<{ newlyEnabled: boolean }> {
    const rows = await this.db.query<{ status: ModelStatus; inserted: boolean }>(
      `INSERT INTO ai_models (model_id, version, name, manifest, sha256, source, status, enabled_at)
       SELECT $1, $2, $3, $4, $5, 'bundled', s.status, CASE WHEN s.status = 'enabled' THEN now() END
         FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM ai_models WHERE model_id = $1) THEN 'disabled' ELSE 'enabled' END AS status) s
       ON CONFLICT (model_id, version) DO UPDATE
          SET manifest = EXCLUDED.manifest, sha256 = EXCLUDED.sha256, name = EXCLUDED.name, updated_at = now()
        WHERE ai_models.source = 'bundled' AND ai_models.sha256 <> EXCLUDED.sha256
       RETURNING status, (xmax = 0) AS inserted`,
      [m.id, m.version, m.name, JSON.stringify(m), m.sha256],
    );
    return { newlyEnabled: rows[0]?.inserted === true && rows[0].status === 'enabled' };
  }

  /** An uploaded version, validated by a worker; arrives disabled. A version is never replaced. */
  async registerUploaded(m: ModelManifest, userId: string): Promise<ModelRow> {
    const rows = await this.db.query<ModelRow>(
      `INSERT INTO ai_models (model_id, version, name, manifest, sha256, source, status, updated_by)
       VALUES ($1, $2, $3, $4, $5, 'uploaded', 'disabled', $6)
       ON CONFLICT (model_id, version) DO NOTHING RETURNING ${COLS}`,
      [m.id, m.version, m.name, JSON.stringify(m), m.sha256, userId],
    );
    if (!rows[0])
      throw new AppError(
        'RADLINK_CONFLICT',
        `${m.id} ${m.version} is already registered; upload a new version.`,
      );
    return rows[0];
  }

  async exists(modelId: string, version: string): Promise<boolean> {
    return (await this.get(modelId, version)) !== null;
  }

  /** enable | disable | shadow. Enabling disables the model's other enabled version. */
  async setStatus(modelId: string, version: string, status: ModelStatus, userId: string): Promise<ModelRow> {
    return this.db.tx(async (q) => {
      const [cur] = await q.query<{ results_withdrawn_at: Date | null }>(
        'SELECT results_withdrawn_at FROM ai_models WHERE model_id = $1 AND version = $2 FOR UPDATE',
        [modelId, version],
      );
      if (!cur) throw NO_MODEL();
      if (status === 'enabled')
        await q.query(
          `UPDATE ai_models SET status = 'disabled', updated_at = now(), updated_by = $3
            WHERE model_id = $1 AND version <> $2 AND status = 'enabled'`,
          [modelId, version, userId],
        );
      const [row] = await q.query<ModelRow>(
        `UPDATE ai_models SET status = $3, updated_at = now(), updated_by = $4,
                enabled_at = CASE WHEN $3 = 'enabled' THEN now() ELSE enabled_at END,
                -- Re-enabling a version makes its (earlier withdrawn) results visible again.
                results_withdrawn_at = CASE WHEN $3 = 'disabled' THEN results_withdrawn_at END
          WHERE model_id = $1 AND version = $2 RETURNING ${COLS}`,
        [modelId, version, status, userId],
      );
      if (status !== 'disabled' && cur.results_withdrawn_at) {
        const studies = await q.query<{ study_uid: string }>(
          `UPDATE ai_runs SET withdrawn_at = NULL WHERE model_id = $1 AND model_version = $2 AND withdrawn_at IS NOT NULL
           RETURNING study_uid`,
          [modelId, version],
        );
        await recomputeFlags(q, [...new Set(studies.map((s) => s.study_uid))]);
      }
      return row!;
    });
  }

  /** Back to the version enabled before the current one; the current one is disabled. */
  async rollback(modelId: string, userId: string): Promise<ModelRow> {
    const versions = await this.db.query<ModelRow>(
      `SELECT ${COLS} FROM ai_models WHERE model_id = $1 ORDER BY enabled_at DESC NULLS LAST`,
      [modelId],
    );
    if (versions.length === 0) throw new AppError('RADLINK_NOT_FOUND', 'No such model.');
    const current = versions.find((v) => v.status === 'enabled');
    const previous = versions.find((v) => v !== current && v.enabledAt !== null);
    if (!previous)
      throw new AppError('RADLINK_CONFLICT', 'No earlier enabled version of this model to roll back to.');
    // Enabling disables the current version in the same transaction.
    return this.setStatus(modelId, previous.version, 'enabled', userId);
  }

  /** Hides every result of a disabled version; returns how many runs were withdrawn. */
  async withdraw(
    modelId: string,
    version: string,
    userId: string,
  ): Promise<{ runs: number; studies: number }> {
    return this.db.tx(async (q) => {
      const [cur] = await q.query<{ status: ModelStatus }>(
        'SELECT status FROM ai_models WHERE model_id = $1 AND version = $2 FOR UPDATE',
        [modelId, version],
      );
      if (!cur) throw NO_MODEL();
      if (cur.status !== 'disabled')
        throw new AppError('RADLINK_CONFLICT', 'Disable this version before withdrawing its results.');
      await q.query(
        `UPDATE ai_models SET results_withdrawn_at = now(), updated_at = now(), updated_by = $3
          WHERE model_id = $1 AND version = $2`,
        [modelId, version, userId],
      );
      const runs = await q.query<{ study_uid: string }>(
        `UPDATE ai_runs SET withdrawn_at = now() WHERE model_id = $1 AND model_version = $2 AND withdrawn_at IS NULL
         RETURNING study_uid`,
        [modelId, version],
      );
      const studies = [...new Set(runs.map((r) => r.study_uid))];
      await recomputeFlags(q, studies);
      return { runs: runs.length, studies: studies.length };
    });
  }
}
