/**
 * What the integration globalSetup (tests/helpers/global-setup.ts) started, handed to every test
 * file through vitest's provide/inject:
 *
 *   import { inject } from 'vitest';
 *   import '../helpers/stack-info.js'; // for the ProvidedContext typing
 *   const stack = inject('stack');
 *
 * The services are shared by all integration files (which run one at a time): use a fresh
 * PostgreSQL database per file (createDatabase from scripts/services/postgres.ts), your own
 * bucket prefix / Redis key prefix, and your own Orthanc patients.
 */
export interface StackInfo {
  /** The run's directory: `.test-data/run-<timestamp>-<pid>/` (kept for the logscan tier). */
  dataDir: string;
  /** Every service's log (`<name>.log`); put logs of processes a test starts here too. */
  logDir: string;
  /** `<dataDir>/run/services.json`, rewritten by the supervisor on every state change. */
  statusFile: string;
  orthanc: {
    /** `http://127.0.0.1:<port>` (basic auth with username/password). */
    url: string;
    username: string;
    password: string;
    /** DIMSE port on which Orthanc accepts C-STORE from registered AE titles. */
    dicomPort: number;
    /** Orthanc's own (called) AE title. */
    aet: string;
  };
  /** `redis://127.0.0.1:<port>`: a private redis-server for this run. */
  redisUrl: string;
  s3: {
    /** `http://127.0.0.1:<port>` (s3rver, path-style). */
    endpoint: string;
    accessKey: string;
    secretKey: string;
    /** Created before the tests start. */
    bucket: string;
    region: string;
  };
  /** `postgres://radlink:<pw>@127.0.0.1:<port>/radlink`; the role has CREATEDB. */
  postgresUrl: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}
