/**
 * Runs retention one run at a time per gateway: on demand (an admin) and on a schedule. A run
 * started while another is in progress is refused (409) rather than queued: the run in progress
 * already covers the same studies. The schedule skips a tick while a run is in progress. Runs
 * on several gateways at once are harmless (each removal is idempotent) but wasteful: on a
 * multi-gateway site, set the interval on one of them only.
 */
import { AppError } from '../plugins/errors.js';
import {
  type RetentionDeps,
  type RetentionReport,
  type RetentionRunOptions,
  runRetention,
} from './retention.js';

export class RetentionRunner {
  private running: Promise<RetentionReport> | null = null;
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly deps: RetentionDeps) {}

  run(opts: RetentionRunOptions): Promise<RetentionReport> {
    if (this.running)
      throw new AppError('RADLINK_CONFLICT', 'A retention run is in progress; try again shortly.');
    const p = runRetention(this.deps, opts).finally(() => {
      this.running = null;
    });
    this.running = p;
    return p;
  }

  /** Starts the scheduled runs, every `intervalMs`. */
  schedule(intervalMs: number): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.run({ trigger: 'schedule' })
        .then((r) =>
          this.deps.log.info(
            { deleted: r.deleted.length, skipped: r.skipped.length, failed: r.failed.length },
            'retention: scheduled run finished',
          ),
        )
        .catch((err) => this.deps.log.error({ err }, 'retention: scheduled run failed'));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the schedule and waits for a run in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }
}
