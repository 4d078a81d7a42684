/**
 * Keeps the study index in step with Orthanc by consuming its change log (`GET /changes`):
 *  - `NewInstance` → index it, attributed to the facility of the AE title that sent it (DIMSE;
 *    Orthanc refuses C-STORE from unknown AE titles, so a DIMSE instance always has one), to the
 *    uploader's facility when STOW stored it but died before indexing it (its STOW intent,
 *    stow-intents.ts), or to no facility (REST uploads straight into Orthanc: system admins only);
 *  - `StableSeries` → a thumbnail job;
 *  - `Deleted` → remove from the index. Orthanc 1.10 does not write these to `/changes` (plugins
 *    only), so deletions made in Orthanc are also found by reconciliation when idle (reconcile.ts).
 *
 * Invariants:
 *  - At-least-once: the cursor (feed_cursors) advances only after a page is processed, and every
 *    handler is idempotent, so a crash or restart replays at most one page.
 *  - One consumer per database: on PostgreSQL each page is processed inside a transaction holding
 *    a transaction-level advisory lock (try-lock; other gateways stay passive and retry). PGlite
 *    is one process by construction.
 *  - Never crashes the gateway: Orthanc or database outages are logged once, retried with
 *    backoff, and logged again when the feed recovers.
 *  - Orthanc wiped and restarted (its sequence is behind our cursor) → the cursor restarts at 0.
 */
import type { FastifyBaseLogger } from 'fastify';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Db, Queryable } from '../db/client.js';
import type { FacilityRepo } from '../identity/facilities.js';
import { AppError } from '../plugins/errors.js';
import { type OrthancClient, OrthancDroppedError } from '../plugins/orthanc.js';
import type { Queues } from '../queues/queues.js';
import type { Attribution, Indexer } from './indexer.js';
import { reconcileDeletedStudies } from './reconcile.js';
import { isUnindexable, recordUnindexable, unindexableIds } from './rejects.js';
import type { StowIntents } from './stow-intents.js';

export interface OrthancChange {
  ChangeType: string;
  Date: string;
  ID: string;
  ResourceType: string;
  Seq: number;
}

interface ChangesPage {
  Changes: OrthancChange[];
  Done: boolean;
  Last: number;
}

export interface ChangeFeedOptions {
  db: Db;
  orthanc: OrthancClient;
  indexer: Indexer;
  facilities: FacilityRepo;
  queues: Queues;
  log: FastifyBaseLogger;
  registry: Registry;
  /** Sleep between polls when the feed is caught up. */
  idleMs?: number;
  pageSize?: number;
  /** Largest backoff after failures. */
  maxBackoffMs?: number;
  /** Concurrent NewInstance indexings within a page. */
  concurrency?: number;
  /** How often, when idle, to look for deletions Orthanc does not log (reconcile.ts). */
  reconcileEveryMs?: number;
  /** STOW intents: attribute REST instances STOW stored but did not index; pruned when idle. */
  intents?: StowIntents;
}

const CURSOR_NAME = 'orthanc-changes';
/** Advisory lock key of the consumer (migrate.ts uses 727_001). */
const CONSUMER_LOCK_ID = 727_002;
/** A change that fails this often for a reason other than an outage is skipped (logged). */
const MAX_ATTEMPTS_PER_CHANGE = 3;
/**
 * Orthanc stopping this often while the feed, reading one instance at a time, was reading the same
 * instance marks that instance as one whose reading crashes Orthanc: it is recorded as unindexable
 * and skipped, instead of crashing Orthanc forever as the page is retried. Three, not one, so that
 * an unrelated restart landing during an innocent read cannot condemn it.
 */
const MAX_DROPS_PER_INSTANCE = 3;

/** Orthanc's change dates are local time, second resolution: `20261124T055131`. */
export function parseOrthancDate(d: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})$/.exec(d);
  if (!m) return null;
  return new Date(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!).getTime();
}

export class ChangeFeed {
  private readonly idleMs: number;
  private readonly pageSize: number;
  private readonly maxBackoffMs: number;
  private readonly concurrency: number;
  private readonly reconcileEveryMs: number;
  private lastReconcile = 0;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private failing = false;
  private startedAt = 0;
  private backoffMs = 0;
  private readonly attempts = new Map<number, number>();
  /** Set when Orthanc stopped mid-page: NewInstance changes are then read one at a time. */
  private isolating = false;
  private readonly drops = new Map<string, number>();
  /** Orthanc ids recorded as unindexable (rejects.ts): never read again, since reading may crash Orthanc. */
  private rejected: Set<string> | null = null;
  readonly lag: Histogram;
  readonly lastLag: Gauge;
  readonly cursorGauge: Gauge;
  readonly alreadyIndexed: Counter;

  constructor(private readonly o: ChangeFeedOptions) {
    this.idleMs = o.idleMs ?? 500;
    this.pageSize = o.pageSize ?? 200;
    this.maxBackoffMs = o.maxBackoffMs ?? 10_000;
    this.concurrency = o.concurrency ?? 8;
    this.reconcileEveryMs = o.reconcileEveryMs ?? 60_000;
    this.lag = new Histogram({
      name: 'radlink_index_lag_seconds',
      help: "Seconds from Orthanc's change (NewInstance) to the instance being in the study index",
      buckets: [0.5, 1, 2, 3, 5, 10, 30, 60, 300],
      registers: [o.registry],
    });
    this.lastLag = new Gauge({
      name: 'radlink_index_last_lag_seconds',
      help: 'Lag of the most recently indexed change-feed instance',
      registers: [o.registry],
    });
    this.alreadyIndexed = new Counter({
      name: 'radlink_index_feed_already_indexed_total',
      help: 'NewInstance changes the feed found already indexed, with their archive copy queued, by STOW in this process (nothing read from Orthanc)',
      registers: [o.registry],
    });
    this.cursorGauge = new Gauge({
      name: 'radlink_index_feed_cursor',
      help: 'Last Orthanc change sequence processed by the index',
      registers: [o.registry],
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.startedAt = Date.now();
    this.loop = this.run();
  }

  /** Stops polling and waits for the page in progress. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    await this.loop;
    this.loop = null;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }

  private async run(): Promise<void> {
    while (this.running) {
      let delay = this.idleMs;
      try {
        const full = await this.step();
        if (!full && Date.now() - this.lastReconcile > this.reconcileEveryMs) {
          this.lastReconcile = Date.now();
          await this.reconcile();
          // Caught up: every instance Orthanc received so far has been offered with its intent.
          await this.o.intents?.prune();
        }
        if (this.failing) this.o.log.info('change feed recovered');
        this.failing = false;
        this.backoffMs = 0;
        if (full) delay = 0;
      } catch (err) {
        if (!this.failing) {
          this.o.log.warn(
            { err: (err as Error).message },
            'change feed paused (Orthanc or database unavailable); retrying',
          );
        }
        this.failing = true;
        this.backoffMs = Math.min(this.maxBackoffMs, Math.max(this.idleMs, this.backoffMs * 2));
        delay = this.backoffMs;
      }
      if (this.running && delay > 0) await this.sleep(delay);
    }
  }

  /** Drops studies deleted directly in Orthanc (its change log does not say so). */
  async reconcile(): Promise<{ removedStudies: number }> {
    return reconcileDeletedStudies(this.o.db, this.o.orthanc, this.o.indexer, this.o.log);
  }

  /** Processes one page if this process is the consumer; true when the page was full. */
  async step(): Promise<boolean> {
    if (this.o.db.kind === 'pglite') return this.processPage(this.o.db);
    return this.o.db.tx(async (q) => {
      const [lock] = await q.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [
        CONSUMER_LOCK_ID,
      ]);
      if (!lock?.ok) return false; // another gateway consumes; stay passive
      return this.processPage(q);
    });
  }

  private async processPage(q: Queryable): Promise<boolean> {
    const [row] = await q.query<{ last_seq: string }>('SELECT last_seq FROM feed_cursors WHERE name = $1', [
      CURSOR_NAME,
    ]);
    let since = row ? Number(row.last_seq) : 0;
    let page = await this.o.orthanc.json<ChangesPage>(
      'GET',
      `/changes?since=${since}&limit=${this.pageSize}`,
    );
    if (page.Changes.length === 0 && page.Last < since) {
      this.o.log.warn(
        { cursor: since, orthancLast: page.Last },
        'Orthanc change log is behind the cursor (new Orthanc database?); re-reading from 0',
      );
      since = 0;
      page = await this.o.orthanc.json<ChangesPage>('GET', `/changes?since=0&limit=${this.pageSize}`);
    }
    if (page.Changes.length === 0) {
      if (since !== (row ? Number(row.last_seq) : 0)) await this.saveCursor(q, since);
      return false;
    }
    await this.handle(page.Changes);
    const last = page.Changes[page.Changes.length - 1]!.Seq;
    await this.saveCursor(q, last);
    return !page.Done;
  }

  private async saveCursor(q: Queryable, seq: number): Promise<void> {
    await q.query(
      `INSERT INTO feed_cursors (name, last_seq) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET last_seq = EXCLUDED.last_seq, updated_at = now()`,
      [CURSOR_NAME, seq],
    );
    this.cursorGauge.set(seq);
  }

  /** In order, except that runs of NewInstance changes are indexed concurrently. */
  private async handle(changes: OrthancChange[]): Promise<void> {
    let batch: OrthancChange[] = [];
    const flush = async () => {
      const indexedByStow = await this.indexedByStow(batch);
      // While isolating, one at a time: a crash can then be pinned on the instance being read.
      const width = this.isolating ? 1 : this.concurrency;
      for (let i = 0; i < batch.length; i += width) {
        await Promise.all(
          batch
            .slice(i, i + width)
            .map((c) => this.guarded(c, () => this.newInstance(c, indexedByStow.has(c.ID)))),
        );
      }
      batch = [];
    };
    for (const c of changes) {
      if (c.ChangeType === 'NewInstance') {
        batch.push(c);
        continue;
      }
      await flush();
      if (c.ChangeType === 'StableSeries') await this.guarded(c, () => this.stableSeries(c));
      else if (
        c.ChangeType === 'Deleted' &&
        (c.ResourceType === 'Instance' || c.ResourceType === 'Series' || c.ResourceType === 'Study')
      ) {
        const level = c.ResourceType;
        await this.guarded(c, async () => {
          await this.o.indexer.removeOrthancResource(level, c.ID);
        });
      }
    }
    await flush();
    // The page went through: whatever stopped Orthanc is behind us.
    this.isolating = false;
    this.drops.clear();
  }

  /**
   * Runs one change's handler. Outages propagate (the page is retried); a resource that is gone
   * is skipped; any other failure is retried with the page a few times, then skipped and logged,
   * so one bad object cannot stop the feed.
   */
  private async guarded(c: OrthancChange, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
      this.attempts.delete(c.Seq);
    } catch (err) {
      if (err instanceof AppError && err.code === 'RADLINK_NOT_FOUND') return;
      if (err instanceof OrthancDroppedError && c.ChangeType === 'NewInstance') {
        if (this.isolating) {
          const n = (this.drops.get(c.ID) ?? 0) + 1;
          this.drops.set(c.ID, n);
          if (n >= MAX_DROPS_PER_INSTANCE) {
            const reason = `Reading Orthanc instance ${c.ID} stopped Orthanc ${n} times; left in Orthanc for an operator.`;
            await recordUnindexable(this.o.db, c.ID, reason);
            this.rejected?.add(c.ID);
            this.drops.delete(c.ID);
            this.o.log.error({ seq: c.Seq, orthancId: c.ID }, 'instance crashes Orthanc when read; skipped');
            return;
          }
        }
        this.isolating = true;
        throw err;
      }
      if (err instanceof AppError && err.code === 'RADLINK_UPSTREAM_UNAVAILABLE') throw err;
      // An object that lacks what the index needs will not improve with retries: record it once
      // (the drift count reports it as unindexable) and move on.
      if (c.ChangeType === 'NewInstance' && isUnindexable(err)) {
        await recordUnindexable(this.o.db, c.ID, err.message);
        this.rejected?.add(c.ID);
        this.attempts.delete(c.Seq);
        this.o.log.warn({ seq: c.Seq, orthancId: c.ID, reason: err.message }, 'instance cannot be indexed');
        return;
      }
      const n = (this.attempts.get(c.Seq) ?? 0) + 1;
      if (n < MAX_ATTEMPTS_PER_CHANGE) {
        this.attempts.set(c.Seq, n);
        throw err;
      }
      this.attempts.delete(c.Seq);
      this.o.log.error(
        { err: (err as Error).message, seq: c.Seq, change: c.ChangeType, orthancId: c.ID },
        'change skipped after repeated failures',
      );
    }
  }

  /**
   * The instances of `changes` that STOW stored, indexed and queued for the archive moments ago
   * (the feed normally reports them just after): their rows are all the feed would produce, so
   * reading their metadata (and, for a live STOW intent, the whole file) from Orthanc again and
   * queuing their copies a second time are skipped. The rows are checked, not assumed — an index
   * write undone since (a failed STOW, a deletion) falls through to the full path — in one
   * statement for the page, not one per instance.
   */
  private async indexedByStow(changes: OrthancChange[]): Promise<Set<string>> {
    const queued = changes.filter((c) => this.o.indexer.takeArchiveQueued(c.ID)).map((c) => c.ID);
    if (queued.length === 0) return new Set();
    const rows = await this.o.db.query<{ orthanc_id: string }>(
      'SELECT orthanc_id FROM instances WHERE orthanc_id = ANY($1::text[])',
      [queued],
    );
    return new Set(rows.map((r) => r.orthanc_id));
  }

  private async newInstance(c: OrthancChange, indexedByStow: boolean): Promise<void> {
    this.rejected ??= await unindexableIds(this.o.db);
    if (this.rejected.has(c.ID)) return;
    if (indexedByStow) {
      this.alreadyIndexed.inc();
      return;
    }
    const attribution = await this.attributionOf(c.ID);
    const res = await this.o.indexer.indexOrthancInstance(c.ID, attribution);
    if (res.created) {
      const at = parseOrthancDate(c.Date);
      // Changes older than the feed's start are a catch-up (first start, outage), not lag.
      if (at !== null && at >= this.startedAt - 1000) {
        // Second resolution: a change at hh:mm:ss.999 looks up to 1 s older than it is.
        const lag = Math.max(0, (Date.now() - at) / 1000);
        this.lag.observe(lag);
        this.lastLag.set(lag);
      }
    }
  }

  /** How an instance that did not come through STOW is attributed (also used by the repair command). */
  async attributionOf(orthancId: string): Promise<Attribution> {
    const meta = await this.o.orthanc.json<Record<string, string>>(
      'GET',
      `/instances/${orthancId}/metadata?expand`,
    );
    const origin = meta.Origin ?? '';
    const aet = (meta.RemoteAET ?? '').trim();
    const transferSyntaxUid = /^[0-9.]{1,64}$/.test(meta.TransferSyntax ?? '') ? meta.TransferSyntax! : null;
    if (origin === 'DicomProtocol' && aet) {
      return {
        facilityId: await this.o.facilities.facilityOfAeTitle(aet),
        source: 'dimse',
        sourceAet: aet,
        transferSyntaxUid,
      };
    }
    // A STOW upload the gateway did not live to index (or not yet): attributed as STOW would.
    if (origin === 'RestApi' && this.o.intents) {
      const stow = await this.o.intents.attributionFor(this.o.orthanc, orthancId, transferSyntaxUid);
      if (stow) return stow;
    }
    // Plugins/Lua output and REST uploads made directly to Orthanc (not through STOW, which indexes
    // with its uploader's facility before the feed sees the instance).
    return {
      facilityId: null,
      source: origin === 'Plugins' || origin === 'Lua' ? 'derived' : 'rest',
      sourceAet: aet || null,
      transferSyntaxUid,
    };
  }

  private async stableSeries(c: OrthancChange): Promise<void> {
    const [row] = await this.o.db.query<{ study_uid: string; series_uid: string }>(
      'SELECT study_uid, series_uid FROM series WHERE orthanc_id = $1',
      [c.ID],
    );
    // Not indexed (e.g. deleted meanwhile): nothing to draw.
    if (row) await this.o.queues.enqueueThumbnail({ studyUid: row.study_uid, seriesUid: row.series_uid });
  }
}
