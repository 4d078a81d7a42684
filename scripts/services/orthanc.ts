/**
 * The private Orthanc (1.10, DICOMweb plugin 1.7): renders `<data>/orthanc/orthanc.json` (mode
 * 0600: it holds the credentials) from the template `orthanc-config/orthanc.json` and runs
 * `/usr/sbin/Orthanc <config>` under the supervisor. Ready when `GET /system` with the generated
 * credentials answers 200. Edit settings in the template, never in the generated file.
 *
 * The template is plain JSON (the linter parses *.json strictly; parseJsonc would also accept
 * comments). Why its settings are what they are:
 * - Filled in here: StorageDirectory and IndexDirectory (`<data>/orthanc/storage`, the SQLite
 *   index next to the files: one directory to back up, restores stay consistent), HttpPort,
 *   DicomPort, DicomAet, RegisteredUsers (from secrets.json).
 * - Private HTTP: `RemoteAccessAllowed: false` refuses every non-loopback client (Orthanc 1.10 has
 *   no bind-address option), `AuthenticationEnabled` with generated credentials; only the gateway
 *   and the workers talk to it. Lua and REST writes to the file system are off.
 * - Byte-for-byte storage: `StorageCompression: false`, `OverwriteInstances: false` (the first
 *   copy of an instance is the record).
 * - `HttpCompressionEnabled: false`: frames are mostly compressed already; gzip costs CPU and
 *   latency on every frame. `KeepAlive`/`TcpNoDelay` for the gateway's connection pool.
 * - DIMSE: `DicomAlwaysAllowStore: false` + `DicomModalitiesInDatabase: true`: C-STORE only from
 *   AE titles the gateway registers per facility (PUT /modalities/{name} with AET, Host, Port,
 *   AllowStore, AllowEcho, AllowFind, AllowMove, AllowGet, field names checked on 1.10).
 *   `DicomCheckModalityHost: false`: facilities sit behind NAT; the calling AE title identifies
 *   them. `DicomAlwaysAllowEcho: true`: a site can test the network path before its AE title is
 *   registered; a C-STORE from an unregistered AE title is still refused (Orthanc accepts the
 *   association, then aborts it on the C-STORE request; storescu exits non-zero).
 * - `DefaultEncoding: Utf8`: files without SpecificCharacterSet carry UTF-8 Vietnamese names;
 *   Latin-1 (the default) mangles them. `StableAge: 3` s (default 60) drives the change feed.
 * - `DeidentifyLogs: true`: patient identifiers never reach the logs (the logscan tier checks).
 * - `SaveJobs: false`, `ConcurrentJobs: 2`: jobs are the gateway's business, not Orthanc's.
 * - DicomWeb: `Host` 127.0.0.1 (the gateway rewrites BulkDataURIs to its public URL),
 *   `StudiesMetadata`/`SeriesMetadata: Full` (read from the stored files).
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseJsonc } from './jsonc.js';
import { REPO_ROOT } from './paths.js';
import { LOOPBACK } from './ports.js';
import type { StatusBoard } from './status-board.js';
import { type Supervised, supervise } from './supervisor.js';

export const ORTHANC_TEMPLATE = join(REPO_ROOT, 'orthanc-config/orthanc.json');
export const ORTHANC_BINARY = '/usr/sbin/Orthanc';

export interface OrthancOptions {
  dataDir: string;
  logDir: string;
  board?: StatusBoard;
  username: string;
  password: string;
  httpPort?: number;
  dicomPort?: number;
  aet?: string;
  /** Extra settings merged over the template (tests, site overrides). */
  overrides?: Record<string, unknown>;
}

export interface OrthancHandle {
  service: Supervised;
  url: string;
  username: string;
  password: string;
  httpPort: number;
  dicomPort: number;
  aet: string;
  configFile: string;
  stop(): Promise<void>;
}

/** Renders the configuration file; returns its path. */
export function writeOrthancConfig(opts: OrthancOptions): string {
  const dir = join(opts.dataDir, 'orthanc');
  const storage = join(dir, 'storage');
  mkdirSync(storage, { recursive: true });
  const template = parseJsonc<Record<string, unknown>>(readFileSync(ORTHANC_TEMPLATE, 'utf8'));
  const config: Record<string, unknown> = {
    ...template,
    StorageDirectory: storage,
    // The SQLite index next to the files: one directory to back up, and restores stay consistent.
    IndexDirectory: storage,
    HttpPort: opts.httpPort ?? 8042,
    DicomPort: opts.dicomPort ?? 4242,
    DicomAet: opts.aet ?? 'RADLINK',
    RegisteredUsers: { [opts.username]: opts.password },
    ...opts.overrides,
  };
  const file = join(dir, 'orthanc.json');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return file;
}

export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

export function startOrthanc(opts: OrthancOptions): OrthancHandle {
  const configFile = writeOrthancConfig(opts);
  const httpPort = opts.httpPort ?? 8042;
  const url = `http://${LOOPBACK}:${httpPort}`;
  const auth = basicAuth(opts.username, opts.password);
  const service = supervise({
    name: 'orthanc',
    command: ORTHANC_BINARY,
    args: [configFile],
    cwd: join(opts.dataDir, 'orthanc'),
    logDir: opts.logDir,
    board: opts.board,
    endpoint: url,
    // The archive must be back within 10 s of a crash (issue 7): Orthanc 1.10 can be crashed by
    // hostile DIMSE input that RadLink cannot filter (C-STORE reaches it directly), so its
    // backoff tops out at 4 s (plus ~1-2 s start-up) instead of the default 10 s.
    backoff: { maxMs: 4_000 },
    probe: async (signal) => {
      const res = await fetch(`${url}/system`, { headers: { authorization: auth }, signal });
      await res.arrayBuffer();
      return res.status === 200;
    },
    // Orthanc flushes its SQLite index on SIGTERM; a large index can take a few seconds.
    stopTimeoutMs: 20_000,
  });
  return {
    service,
    url,
    username: opts.username,
    password: opts.password,
    httpPort,
    dicomPort: opts.dicomPort ?? 4242,
    aet: opts.aet ?? 'RADLINK',
    configFile,
    stop: () => service.stop(),
  };
}
