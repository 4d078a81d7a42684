/**
 * Simulated image viewers for load benchmarks, each behaving like Cornerstone3D reading a stack
 * over DICOMweb:
 *  - it authenticates (the gateway: a radiologist's login; Orthanc: basic auth, no request), and
 *    logs in again before its bearer token expires;
 *  - it opens a series: WADO-RS series metadata (application/dicom+json), from which it takes
 *    the SOP Instance UIDs in InstanceNumber order, as a viewer builds its image ids;
 *  - it scrolls: every slice's frame 1 once per pass (`…/instances/{sop}/frames/1`, Accept
 *    multipart/related; type="application/octet-stream"; transfer-syntax=*), from a random slice,
 *    downwards on even passes and upwards on odd ones, wrapping around, with `inFlight` requests
 *    outstanding at any time over at most `inFlight` kept-alive connections (a prefetcher's
 *    request pool; browsers allow 6 connections per host);
 *  - after `passesPerOpen` passes it opens the next series, until the phase's time is up (requests
 *    in flight then are completed and counted).
 * Latency is from sending the request until the last byte of the answer. A request whose
 * kept-alive connection is found closed before any answer is sent once more, as browsers do (and
 * counted). Every answer other than
 * 2xx, every network error or timeout, every frame shorter than its pixels and every metadata
 * answer without the expected instances counts as an error. Errors are described without URLs or
 * bodies (no identifiers in the results).
 */
import { Agent, request } from 'undici';
import { r2, summarise } from './stats.js';

export const FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*';

export interface SeriesRef {
  studyUid: string;
  seriesUid: string;
}

export interface Credentials {
  authorization: string;
  /** Epoch ms after which the credentials must be renewed. */
  renewAt: number;
}

export interface ViewerTarget {
  name: string;
  /** Base of the DICOMweb routes, e.g. http://127.0.0.1:8080/dicom-web */
  dicomWeb: string;
  /** Credentials for viewer `v`; `null` result means no request was made (static credentials). */
  authenticate(
    v: number,
    dispatcher: Agent,
  ): Promise<{ credentials: Credentials; requestMs: number | null; error?: LoadError }>;
}

export interface ViewerLoadOptions {
  viewers: number;
  inFlight: number;
  passesPerOpen: number;
  durationMs: number;
  /** Viewers start spread evenly over this time (people do not all click at once). */
  rampMs: number;
  series: SeriesRef[];
  slices: number;
  /** A frame answer shorter than this (the pixels alone) is an error. */
  minFrameBytes: number;
  timeoutMs: number;
  /** Orthanc hints `Keep-Alive: timeout=1`: keep a margin small enough to reuse its sockets. */
  keepAliveMarginMs: number;
}

export interface LoadError {
  atSeconds: number;
  viewer: number;
  request: 'login' | 'metadata' | 'frame';
  kind: 'http' | 'network' | 'short-frame' | 'bad-metadata';
  status?: number;
  detail: string;
}

/** What one run of the viewers produced, unsummarised (runs of one target can be pooled). */
export interface ViewerLoadRaw {
  target: string;
  startedAt: number;
  endedAt: number;
  frameMs: number[];
  /** Epoch ms at which each frame of frameMs completed. */
  frameAt: number[];
  frameBytes: number;
  metadataMs: number[];
  loginMs: number[];
  requests: number;
  errorAt: number[];
  firstErrors: LoadError[];
  errorsByKind: Record<string, number>;
  seriesOpened: number;
  passesCompleted: number;
  staleConnectionRetries: number;
}

export interface ViewerLoadResult {
  target: string;
  runs: number;
  seconds: number;
  requests: { total: number; logins: number; metadata: number; frames: number };
  errors: { count: number; byKind: Record<string, number>; first: LoadError[] };
  frames: ReturnType<typeof summarise> & { perSecond: number; megabytesPerSecond: number };
  metadata: ReturnType<typeof summarise>;
  logins: ReturnType<typeof summarise>;
  seriesOpened: number;
  passesCompleted: number;
  /** Requests sent again because their kept-alive connection was found closed (browser-like). */
  staleConnectionRetries: number;
  perMinute: Array<{
    run: number;
    minute: number;
    frames: number;
    p50Ms: number;
    p99Ms: number;
    errors: number;
  }>;
}

const FIRST_ERRORS = 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads a body to its end, counting bytes without keeping them. */
async function drain(body: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const chunk of body) n += (chunk as Buffer).length;
  return n;
}

function describe(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string };
  return e.code ?? e.name ?? String(e.message ?? err).slice(0, 80);
}

/**
 * A request as a browser sends it: when a kept-alive connection turns out closed before any
 * answer arrived, the request is sent once more (browsers do this for idempotent requests on
 * reused connections). Counted, so the results show how often the client did it.
 */
async function send(
  url: string,
  opts: { dispatcher: Agent; headers: Record<string, string> },
  onRetry: () => void,
): Promise<Awaited<ReturnType<typeof request>>> {
  try {
    return await request(url, opts);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'UND_ERR_SOCKET' && code !== 'ECONNRESET') throw err;
    onRetry();
    return await request(url, opts);
  }
}

/** SOP Instance UIDs of a series' metadata in InstanceNumber order (what a viewer stacks). */
function stackOf(metadata: unknown): string[] {
  if (!Array.isArray(metadata)) return [];
  return metadata
    .map((ds) => {
      const d = ds as Record<string, { Value?: unknown[] }>;
      return {
        sop: d['00080018']?.Value?.[0],
        n: Number(d['00200013']?.Value?.[0] ?? 0),
      };
    })
    .filter((x): x is { sop: string; n: number } => typeof x.sop === 'string')
    .sort((a, b) => a.n - b.n)
    .map((x) => x.sop);
}

export async function runViewerLoad(target: ViewerTarget, o: ViewerLoadOptions): Promise<ViewerLoadRaw> {
  const t0 = Date.now();
  const deadline = t0 + o.durationMs;
  const frameMs: number[] = [];
  const frameAt: number[] = [];
  const metadataMs: number[] = [];
  const loginMs: number[] = [];
  const errorAt: number[] = [];
  const first: LoadError[] = [];
  const byKind: Record<string, number> = {};
  let frameBytes = 0;
  let requests = 0;
  let seriesOpened = 0;
  let passesCompleted = 0;
  let staleConnectionRetries = 0;
  const retried = () => {
    staleConnectionRetries++;
  };

  const fail = (e: Omit<LoadError, 'atSeconds'>) => {
    const at = Date.now();
    errorAt.push(at);
    const key = `${e.request}:${e.kind}${e.status ? `:${e.status}` : ''}`;
    byKind[key] = (byKind[key] ?? 0) + 1;
    if (first.length < FIRST_ERRORS) first.push({ ...e, atSeconds: r2((at - t0) / 1000) });
  };

  async function viewer(v: number): Promise<void> {
    await sleep((o.rampMs * v) / o.viewers);
    const dispatcher = new Agent({
      connections: o.inFlight,
      pipelining: 1,
      keepAliveTimeoutThreshold: o.keepAliveMarginMs,
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
    });
    let creds: Credentials | null = null;
    let seriesIndex = v % o.series.length;
    try {
      while (Date.now() < deadline) {
        if (!creds || Date.now() >= creds.renewAt) {
          const a = await target.authenticate(v, dispatcher);
          if (a.requestMs !== null) {
            requests++;
            loginMs.push(a.requestMs);
          }
          if (a.error) {
            fail(a.error);
            creds = null;
            await sleep(1000);
            continue;
          }
          creds = a.credentials;
        }
        const series = o.series[seriesIndex]!;
        seriesIndex = (seriesIndex + 1) % o.series.length;
        const base = `${target.dicomWeb}/studies/${series.studyUid}/series/${series.seriesUid}`;

        // Open the series: its metadata.
        let stack: string[] = [];
        const ms0 = performance.now();
        requests++;
        try {
          const res = await send(
            `${base}/metadata`,
            { dispatcher, headers: { authorization: creds.authorization, accept: 'application/dicom+json' } },
            retried,
          );
          const text = await res.body.text();
          metadataMs.push(performance.now() - ms0);
          if (res.statusCode < 200 || res.statusCode >= 300) {
            fail({
              viewer: v,
              request: 'metadata',
              kind: 'http',
              status: res.statusCode,
              detail: `HTTP ${res.statusCode}`,
            });
            if (res.statusCode === 401) creds = null;
            await sleep(1000);
            continue;
          }
          stack = stackOf(JSON.parse(text));
        } catch (err) {
          metadataMs.push(performance.now() - ms0);
          fail({ viewer: v, request: 'metadata', kind: 'network', detail: describe(err) });
          await sleep(1000);
          continue;
        }
        if (stack.length !== o.slices) {
          fail({
            viewer: v,
            request: 'metadata',
            kind: 'bad-metadata',
            detail: `${stack.length} instances, expected ${o.slices}`,
          });
          await sleep(1000);
          continue;
        }
        seriesOpened++;

        // Scroll.
        for (let pass = 0; pass < o.passesPerOpen && Date.now() < deadline; pass++) {
          const start = Math.floor(Math.random() * stack.length);
          const step = pass % 2 === 0 ? 1 : -1;
          let next = 0;
          const c = creds;
          await Promise.all(
            Array.from({ length: o.inFlight }, async () => {
              while (next < stack.length && Date.now() < deadline) {
                const k = (start + step * next++ + stack.length) % stack.length;
                const url = `${base}/instances/${stack[k]}/frames/1`;
                const s = performance.now();
                requests++;
                try {
                  const res = await send(
                    url,
                    { dispatcher, headers: { authorization: c.authorization, accept: FRAME_ACCEPT } },
                    retried,
                  );
                  const n = await drain(res.body);
                  const dt = performance.now() - s;
                  if (res.statusCode < 200 || res.statusCode >= 300) {
                    fail({
                      viewer: v,
                      request: 'frame',
                      kind: 'http',
                      status: res.statusCode,
                      detail: `HTTP ${res.statusCode}`,
                    });
                    continue;
                  }
                  if (n < o.minFrameBytes) {
                    fail({ viewer: v, request: 'frame', kind: 'short-frame', detail: `${n} bytes` });
                    continue;
                  }
                  frameMs.push(dt);
                  frameAt.push(Date.now());
                  frameBytes += n;
                } catch (err) {
                  fail({ viewer: v, request: 'frame', kind: 'network', detail: describe(err) });
                }
              }
            }),
          );
          if (next >= stack.length) passesCompleted++;
        }
      }
    } finally {
      await dispatcher.close();
    }
  }

  await Promise.all(Array.from({ length: o.viewers }, (_, v) => viewer(v)));
  return {
    target: target.name,
    startedAt: t0,
    endedAt: Date.now(),
    frameMs,
    frameAt,
    frameBytes,
    metadataMs,
    loginMs,
    requests,
    errorAt,
    firstErrors: first,
    errorsByKind: byKind,
    seriesOpened,
    passesCompleted,
    staleConnectionRetries,
  };
}

/** Pools runs of one target: latencies over all of them, rates over their summed durations. */
export function summariseLoad(runs: ViewerLoadRaw[]): ViewerLoadResult {
  const seconds = runs.reduce((n, r) => n + (r.endedAt - r.startedAt) / 1000, 0);
  const all = <T>(f: (r: ViewerLoadRaw) => T[]) => runs.flatMap(f);
  const byKind: Record<string, number> = {};
  for (const r of runs) for (const [k, n] of Object.entries(r.errorsByKind)) byKind[k] = (byKind[k] ?? 0) + n;
  const perMinute = runs.flatMap((r, run) =>
    Array.from({ length: Math.ceil((r.endedAt - r.startedAt) / 60_000) }, (_, m) => {
      const lo = r.startedAt + m * 60_000;
      const hi = lo + 60_000;
      const xs = r.frameMs.filter((_, i) => r.frameAt[i]! >= lo && r.frameAt[i]! < hi);
      const s = summarise(xs);
      return {
        run: run + 1,
        minute: m + 1,
        frames: xs.length,
        p50Ms: s.p50Ms,
        p99Ms: s.p99Ms,
        errors: r.errorAt.filter((t) => t >= lo && t < hi).length,
      };
    }),
  );
  const frames = summarise(all((r) => r.frameMs));
  const requests = runs.reduce((n, r) => n + r.requests, 0);
  const logins = runs.reduce((n, r) => n + r.loginMs.length, 0);
  const metadata = runs.reduce((n, r) => n + r.metadataMs.length, 0);
  const frameBytes = runs.reduce((n, r) => n + r.frameBytes, 0);
  return {
    target: runs[0]?.target ?? '',
    runs: runs.length,
    seconds: r2(seconds),
    requests: { total: requests, logins, metadata, frames: requests - logins - metadata },
    errors: {
      count: runs.reduce((n, r) => n + r.errorAt.length, 0),
      byKind,
      first: all((r) => r.firstErrors).slice(0, FIRST_ERRORS),
    },
    frames: {
      ...frames,
      perSecond: r2(frames.count / seconds),
      megabytesPerSecond: r2(frameBytes / 1e6 / seconds),
    },
    metadata: summarise(all((r) => r.metadataMs)),
    logins: summarise(all((r) => r.loginMs)),
    seriesOpened: runs.reduce((n, r) => n + r.seriesOpened, 0),
    passesCompleted: runs.reduce((n, r) => n + r.passesCompleted, 0),
    staleConnectionRetries: runs.reduce((n, r) => n + r.staleConnectionRetries, 0),
    perMinute,
  };
}
