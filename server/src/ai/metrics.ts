/**
 * AI figures in Prometheus (the app's registry, /metrics): runs by model, version, facility and
 * outcome; inference time (network only) and queue wait per model; acceptance rate of reviewed
 * findings per model, read from the database when scraped so it is always current.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Queryable } from '../db/client.js';

export class AiMetrics {
  readonly runs: Counter<'model' | 'version' | 'facility' | 'outcome'>;
  readonly inference: Histogram<'model' | 'version'>;
  readonly queueWait: Histogram<'model' | 'version'>;

  constructor(registry: Registry, db: Queryable) {
    this.runs = new Counter({
      name: 'radlink_ai_runs_total',
      help: 'AI runs finished, by model, version, facility and outcome (completed, skipped, failed)',
      labelNames: ['model', 'version', 'facility', 'outcome'],
      registers: [registry],
    });
    this.inference = new Histogram({
      name: 'radlink_ai_inference_seconds',
      help: 'Network time of an AI run (sliding-window inference)',
      labelNames: ['model', 'version'],
      buckets: [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64],
      registers: [registry],
    });
    this.queueWait = new Histogram({
      name: 'radlink_ai_queue_wait_seconds',
      help: 'Time an AI run spent waiting in queues (all stages, including the wait for a stable series)',
      labelNames: ['model', 'version'],
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800],
      registers: [registry],
    });
    new Gauge({
      name: 'radlink_ai_acceptance_ratio',
      help: 'Accepted / reviewed AI findings, by model and version',
      labelNames: ['model', 'version'],
      registers: [registry],
      async collect() {
        const rows = await db
          .query<{ model_id: string; model_version: string; accepted: number; reviewed: number }>(
            `SELECT r.model_id, r.model_version, count(*) FILTER (WHERE fb.verdict = 'accepted')::int AS accepted,
                    count(fb.verdict)::int AS reviewed
               FROM ai_feedback fb JOIN ai_findings f ON f.id = fb.finding_id JOIN ai_runs r ON r.id = f.run_id
              GROUP BY r.model_id, r.model_version`,
          )
          .catch(() => []);
        this.reset();
        for (const r of rows)
          if (r.reviewed > 0)
            this.set({ model: r.model_id, version: r.model_version }, r.accepted / r.reviewed);
      },
    });
  }
}
