/**
 * Short-lived memory for the instance-level WADO routes, which a viewer calls by the hundred per
 * series (one request per frame): the caller's access decision per study, and the index rows of a
 * series' instances. Without them every frame costs the scope query in the database.
 *
 * Invariants:
 *  - Only positive access decisions are kept, per session (a new grant is seen at once; a
 *    disabled user or revoked session fails authentication before this is consulted), for at most
 *    DECISION_TTL_MS — the same bound as the session cache (identity/sessions.ts) for changes
 *    made through another gateway. A grant revoked in this process (noteGrantRevoked in
 *    access/study-access.ts) forgets every decision at once.
 *  - Instance rows are immutable while they exist (a SOP Instance UID names one object); a
 *    series' rows are re-read after SERIES_TTL_MS, so an instance deleted meanwhile is served
 *    from the cache for at most that long (Orthanc then answers 404, which the routes map to 404),
 *    and one added meanwhile is found by re-reading the series on a miss.
 *  - Both maps are bounded; when full they are cleared (they only save round trips).
 */
import { grantRevocationEpoch } from '../access/study-access.js';
import type { Principal } from '../identity/principal.js';
import type { IndexedInstanceRow } from './wado-resolve.js';

const DECISION_TTL_MS = 2_000;
const DECISION_MAX = 10_000;
const SERIES_TTL_MS = 5_000;
const SERIES_MAX = 64;
/** Larger series are not kept (memory); their instances are looked up one by one. */
const SERIES_CACHE_MAX_INSTANCES = 5_000;

/** Everything a principal's scope depends on (study-access.ts scopeOf), plus its session. */
function principalKey(p: Principal): string {
  return `${p.kind}|${p.sessionId}|${p.userId}|${p.role}|${p.facilityId ?? ''}|${p.shareStudyUid ?? ''}`;
}

export class AccessDecisions {
  private readonly allowed = new Map<string, number>();
  private epoch = grantRevocationEpoch();

  private sync(): void {
    const e = grantRevocationEpoch();
    if (e !== this.epoch) {
      this.allowed.clear();
      this.epoch = e;
    }
  }

  /** True when this principal was allowed this study less than DECISION_TTL_MS ago. */
  has(p: Principal, studyUid: string): boolean {
    this.sync();
    const key = `${principalKey(p)}|${studyUid}`;
    const at = this.allowed.get(key);
    if (at === undefined) return false;
    if (Date.now() - at < DECISION_TTL_MS) return true;
    this.allowed.delete(key);
    return false;
  }

  /** Records an allowed decision taken at `epoch` (dropped if a grant was revoked since). */
  remember(p: Principal, studyUid: string, epoch: number): void {
    this.sync();
    if (epoch !== this.epoch) return;
    if (this.allowed.size >= DECISION_MAX) this.allowed.clear();
    this.allowed.set(`${principalKey(p)}|${studyUid}`, Date.now());
  }
}

export class SeriesInstances {
  private readonly series = new Map<string, { at: number; rows: Map<string, IndexedInstanceRow> }>();
  /** Loads under way: concurrent first readers of a series share one query. */
  private readonly loading = new Map<string, Promise<IndexedInstanceRow[] | 'too-big'>>();
  /** Series found larger than SERIES_CACHE_MAX_INSTANCES: looked up instance by instance. */
  private readonly large = new Set<string>();

  /**
   * The row of one instance: from memory, else by reading its whole series once (`loadSeries`
   * with a limit of SERIES_CACHE_MAX_INSTANCES + 1 rows), or alone (`loadOne`) for large series.
   */
  async row(
    studyUid: string,
    seriesUid: string,
    sopInstanceUid: string,
    loadSeries: (limit: number) => Promise<IndexedInstanceRow[]>,
    loadOne: () => Promise<IndexedInstanceRow | undefined>,
  ): Promise<IndexedInstanceRow | undefined> {
    const key = `${studyUid}|${seriesUid}`;
    const hit = this.series.get(key);
    if (hit && Date.now() - hit.at < SERIES_TTL_MS) {
      const row = hit.rows.get(sopInstanceUid);
      if (row) return row;
    }
    if (this.large.has(key)) return loadOne();
    let pending = this.loading.get(key);
    if (!pending) {
      pending = loadSeries(SERIES_CACHE_MAX_INSTANCES + 1).then((rows) => {
        if (rows.length > SERIES_CACHE_MAX_INSTANCES) {
          if (this.large.size >= SERIES_MAX) this.large.clear();
          this.large.add(key);
          return 'too-big' as const;
        }
        if (this.series.size >= SERIES_MAX) this.series.clear();
        this.series.set(key, { at: Date.now(), rows: new Map(rows.map((r) => [r.sopInstanceUid, r])) });
        return rows;
      });
      const settled = () => this.loading.delete(key);
      pending.then(settled, settled);
      this.loading.set(key, pending);
    }
    const rows = await pending;
    if (rows === 'too-big') return loadOne();
    return rows.find((r) => r.sopInstanceUid === sopInstanceUid);
  }

  /** Forgets a series (e.g. Orthanc no longer has one of its instances). */
  drop(studyUid: string, seriesUid: string): void {
    this.series.delete(`${studyUid}|${seriesUid}`);
  }
}
