/**
 * The one HTTP client for Orthanc (loopback, basic auth, keep-alive pool). Orthanc is private:
 * nothing reaches it except through this client, and callers decide what may be forwarded
 * (see dicomweb/). Connection failures surface as RADLINK_UPSTREAM_UNAVAILABLE (503 with a
 * reason); the pool reconnects by itself when Orthanc is back.
 */
import type { Readable } from 'node:stream';
import { Pool } from 'undici';
import { AppError } from './errors.js';

export interface OrthancResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable & { json(): Promise<unknown>; text(): Promise<string>; arrayBuffer(): Promise<ArrayBuffer> };
}

export interface OrthancOptions {
  url: string;
  username: string;
  password: string;
  /** Per-request timeout for headers; bodies of large retrieves may take longer. */
  headersTimeoutMs?: number;
  /** Sockets to Orthanc (default 32). */
  connections?: number;
}

/**
 * Orthanc accepted the connection, dropped it mid-request and then refused new ones: its process
 * exited while serving the request (a crash, or a kill that happened to land then). Callers that
 * read one object at a time use it to find objects whose reading crashes Orthanc (see change-feed).
 */
export class OrthancDroppedError extends AppError {
  readonly droppedMidRequest = true;
  constructor() {
    super(
      'RADLINK_UPSTREAM_UNAVAILABLE',
      'The DICOM archive (Orthanc) stopped while answering (ECONNREFUSED).',
    );
  }
}

export class OrthancClient {
  private readonly pool: Pool;
  private readonly auth: string;
  constructor(private readonly opts: OrthancOptions) {
    this.pool = new Pool(opts.url, {
      connections: opts.connections ?? 32,
      pipelining: 1,
      headersTimeout: opts.headersTimeoutMs ?? 30_000,
      bodyTimeout: 120_000,
      keepAliveTimeout: 10_000,
      // Orthanc answers `Keep-Alive: timeout=1`; undici subtracts this margin from the hint, and
      // with its default (2 s) every connection counted as expired on arrival: one TCP connect
      // per request. 500 ms keeps sockets reused while still closing before Orthanc does.
      keepAliveTimeoutThreshold: 500,
    });
    this.auth = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
  }

  /**
   * The same Orthanc through sockets of its own. Background work (the change feed) uses one so
   * that it never queues behind viewers' frame requests: under 50 scrolling viewers, sharing the
   * gateway's pool put DIMSE-received studies minutes behind in the index.
   */
  withOwnPool(connections: number): OrthancClient {
    return new OrthancClient({ ...this.opts, connections });
  }

  async request(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    opts: { headers?: Record<string, string>; body?: Buffer | string | Readable; signal?: AbortSignal } = {},
  ): Promise<OrthancResponse> {
    const send = () =>
      this.pool.request({
        method,
        path,
        headers: { ...opts.headers, authorization: this.auth },
        body: opts.body ?? null,
        signal: opts.signal,
      });
    let dropped = false;
    try {
      try {
        return (await send()) as unknown as OrthancResponse;
      } catch (err) {
        // A kept-alive socket Orthanc closed just as it was reused: the request never reached
        // Orthanc, so sending it once more on a fresh connection is safe (not for a stream body,
        // which is consumed). Orthanc being down fails again at once and is reported below.
        const code = (err as { code?: string }).code;
        const reusedSocketClosed = code === 'UND_ERR_SOCKET' || code === 'ECONNRESET';
        if (
          !reusedSocketClosed ||
          (opts.body !== undefined && typeof opts.body === 'object' && !Buffer.isBuffer(opts.body))
        )
          throw err;
        dropped = true;
        // When the event loop stalls (a saturated machine) past Orthanc's 1 s keep-alive, many
        // idle sockets expire at once and a retry can draw another of them (seen under the load
        // benchmark, bench/load.ts): up to 3 more tries before Orthanc counts as unavailable.
        for (let attempt = 2; ; attempt++) {
          try {
            return (await send()) as unknown as OrthancResponse;
          } catch (again) {
            const c = (again as { code?: string }).code;
            if (attempt >= 4 || (c !== 'UND_ERR_SOCKET' && c !== 'ECONNRESET')) throw again;
          }
        }
      }
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'unknown';
      // Connected, dropped mid-request, and then refused: the process went away while serving us.
      if (dropped && code === 'ECONNREFUSED') throw new OrthancDroppedError();
      throw new AppError(
        'RADLINK_UPSTREAM_UNAVAILABLE',
        `The DICOM archive (Orthanc) is unavailable (${code}).`,
      );
    }
  }

  async json<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, {
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode >= 400) {
      throw new AppError(
        res.statusCode === 404 ? 'RADLINK_NOT_FOUND' : 'RADLINK_UPSTREAM_UNAVAILABLE',
        `Orthanc answered ${res.statusCode} to ${method} ${path.split('?')[0]}.`,
      );
    }
    return (text ? JSON.parse(text) : null) as T;
  }

  async ping(): Promise<void> {
    await this.json('GET', '/system');
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
