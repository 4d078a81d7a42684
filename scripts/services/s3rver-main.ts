/**
 * Entry point of the embedded S3 child process (run by scripts/services/s3rver.ts under the
 * supervisor, so a crash is restarted like any other service). Configured by environment:
 *   S3RVER_PORT, S3RVER_DIR, S3RVER_ACCESS_KEY, S3RVER_SECRET_KEY.
 *
 * s3rver only knows one hard-coded key pair (S3RVER/S3RVER) and rejects other access key ids, so
 * the installation's generated pair is registered on its dummy account. s3rver does not verify
 * SigV4 signatures: it is an embedded store for one server and for tests, reachable only on
 * loopback, not an access-control boundary (a hospital that needs one points S3_ENDPOINT at MinIO).
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}
type S3rverCtor = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  resetOnClose: boolean;
  vhostBuckets: boolean;
}) => S3rverInstance;
interface AccountModule {
  DUMMY_ACCOUNT: { createKeyPair(accessKeyId: string, secretAccessKey: string): void };
}

// s3rver ships no type declarations; load it through require with the minimal shape used here.
const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as S3rverCtor;
const accounts = require('s3rver/lib/models/account.js') as AccountModule;

function env(name: string): string {
  const v = process.env[name];
  if (!v) {
    console.error(`s3rver-main: ${name} is required`);
    process.exit(2);
  }
  return v;
}

const port = Number(env('S3RVER_PORT'));
const directory = env('S3RVER_DIR');
accounts.DUMMY_ACCOUNT.createKeyPair(env('S3RVER_ACCESS_KEY'), env('S3RVER_SECRET_KEY'));
mkdirSync(directory, { recursive: true });

// silent: s3rver logs every request with its object key; the supervisor's log needs none of that.
const server = new S3rver({
  address: '127.0.0.1',
  port,
  directory,
  silent: true,
  resetOnClose: false,
  vhostBuckets: false,
});
const addr = await server.run();
console.log(`s3rver listening on http://${addr.address}:${addr.port}, data in ${directory}`);

let closing = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    if (closing) return;
    closing = true;
    console.log(`s3rver: ${sig}, closing`);
    // close() waits for open keep-alive connections; do not let one client hold the stop forever.
    setTimeout(() => process.exit(0), 3000).unref();
    server.close().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  });
}
