/**
 * The service stack itself, with real processes (no mocks): supervision of Orthanc, Orthanc's
 * access rules (HTTP credentials, C-STORE only from registered AE titles), the fail-fast check of
 * an external Redis, the secrets file, and the other services' basics.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { basicAuth } from '../../scripts/services/orthanc.js';
import { freePort } from '../../scripts/services/ports.js';
import { createDatabase, dropDatabase } from '../../scripts/services/postgres.js';
import { checkRedisReachable, redisPing } from '../../scripts/services/redis.js';
import { s3Client } from '../../scripts/services/s3rver.js';
import { loadOrCreateSecrets } from '../../scripts/services/secrets.js';
import { readStatusFile, type ServiceStatus } from '../../scripts/services/status-board.js';
import '../helpers/stack-info.js';

const stack = inject('stack');
const auth = { authorization: basicAuth(stack.orthanc.username, stack.orthanc.password) };
const TEST_FILES = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
const scratch = mkdtempSync(join(tmpdir(), 'radlink-services-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function orthanc(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${stack.orthanc.url}${path}`, { ...init, headers: { ...auth, ...init.headers } });
}

function serviceStatus(name: string): ServiceStatus {
  const s = readStatusFile(stack.statusFile)?.services[name];
  if (!s) throw new Error(`${name} missing from ${stack.statusFile}`);
  return s;
}

/** A copy of a pydicom test file with a fresh SOPInstanceUID, so each test stores a new instance. */
function freshInstance(source: string): { file: string; sopInstanceUid: string } {
  const file = join(scratch, `${Date.now()}-${Math.random().toString(36).slice(2)}.dcm`);
  copyFileSync(join(TEST_FILES, source), file);
  // New study, series and instance UIDs: Orthanc and the index are shared by all test files, and
  // the original study UID belongs to the pydicom corpus test (which STOWs the untouched files).
  const mod = spawnSync('dcmodify', ['-nb', '-gst', '-gse', '-gin', file], { encoding: 'utf8' });
  expect(mod.status, mod.stderr).toBe(0);
  const dump = spawnSync('dcmdump', ['-s', '+P', '0008,0018', file], { encoding: 'utf8' });
  const uid = /\[([0-9.]+)\]/.exec(dump.stdout)?.[1];
  if (!uid) throw new Error(`no SOPInstanceUID in ${file}: ${dump.stdout}${dump.stderr}`);
  return { file, sopInstanceUid: uid };
}

/** Orthanc ids of the instances with this SOPInstanceUID (empty when not stored). */
async function lookupInstance(sopInstanceUid: string): Promise<string[]> {
  const res = await orthanc('/tools/lookup', { method: 'POST', body: sopInstanceUid });
  expect(res.status).toBe(200);
  const found = (await res.json()) as { Type: string; ID: string }[];
  return found.filter((f) => f.Type === 'Instance').map((f) => f.ID);
}

function storescu(callingAet: string, file: string) {
  return spawnSync(
    'storescu',
    ['-aet', callingAet, '-aec', stack.orthanc.aet, '127.0.0.1', String(stack.orthanc.dicomPort), file],
    { encoding: 'utf8', timeout: 30_000 },
  );
}

describe('Orthanc access rules', () => {
  it('refuses HTTP requests without or with wrong credentials (401)', async () => {
    const anonymous = await fetch(`${stack.orthanc.url}/system`);
    expect(anonymous.status).toBe(401);
    const wrong = await fetch(`${stack.orthanc.url}/system`, {
      headers: { authorization: basicAuth('radlink', 'nope') },
    });
    expect(wrong.status).toBe(401);
    const ok = await orthanc('/system');
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { DicomAet: string }).DicomAet).toBe(stack.orthanc.aet);
  });

  it('accepts C-STORE from an AE title registered through PUT /modalities, refuses an unknown one', async () => {
    const put = await orthanc('/modalities/services-test-facility', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        AET: 'SVCTEST_CT',
        Host: '127.0.0.1',
        Port: 104,
        AllowStore: true,
        AllowEcho: true,
        AllowFind: false,
        AllowMove: false,
        AllowGet: false,
      }),
    });
    expect(put.status).toBe(200);
    const registered = (await (await orthanc('/modalities?expand')).json()) as Record<
      string,
      Record<string, unknown>
    >;
    expect(registered['services-test-facility']).toMatchObject({
      AET: 'SVCTEST_CT',
      AllowStore: true,
      AllowFind: false,
    });

    const known = freshInstance('MR_small.dcm');
    const ok = storescu('SVCTEST_CT', known.file);
    expect(ok.status, ok.stderr).toBe(0);
    expect(await lookupInstance(known.sopInstanceUid)).toHaveLength(1);

    // Orthanc accepts the association (C-ECHO is open to everyone) but rejects the C-STORE request
    // from an unregistered AE title by aborting the association: storescu exits non-zero.
    const unknown = freshInstance('MR_small.dcm');
    const refused = storescu('NOT_REGISTERED', unknown.file);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/Store Failed|Association Rejected|Peer aborted/i);
    expect(await lookupInstance(unknown.sopInstanceUid)).toEqual([]);

    const del = await orthanc('/modalities/services-test-facility', { method: 'DELETE' });
    expect(del.status).toBe(200);
  });
});

describe('supervision', () => {
  it('restarts Orthanc after SIGKILL within 10 s, counts the restart, keeps stored instances', async () => {
    const instance = freshInstance('CT_small.dcm');
    const post = await orthanc('/instances', {
      method: 'POST',
      headers: { 'content-type': 'application/dicom' },
      body: readFileSync(instance.file),
    });
    expect(post.status).toBe(200);
    const { ID: id } = (await post.json()) as { ID: string };

    const before = serviceStatus('orthanc');
    expect(before.state).toBe('ok');
    expect(before.pid).toBeGreaterThan(0);
    process.kill(before.pid!, 'SIGKILL');
    const killedAt = Date.now();

    let answered = false;
    while (Date.now() - killedAt < 10_000) {
      try {
        const res = await orthanc('/system', { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.status === 200) {
          const s = serviceStatus('orthanc');
          // Make sure the answer comes from the new process, not the dying one.
          if (s.state === 'ok' && s.pid !== before.pid) {
            answered = true;
            break;
          }
        }
      } catch {
        /* down */
      }
      await sleep(100);
    }
    const elapsed = Date.now() - killedAt;
    expect(answered, `Orthanc not back within 10 s (${elapsed} ms)`).toBe(true);

    const after = serviceStatus('orthanc');
    expect(after.restarts).toBe(before.restarts + 1);
    expect(after.lastExitSignal).toBe('SIGKILL');
    expect(after.pid).not.toBe(before.pid);

    const res = await orthanc(`/instances/${id}`);
    expect(res.status).toBe(200);
    expect(
      ((await res.json()) as { MainDicomTags: { SOPInstanceUID: string } }).MainDicomTags.SOPInstanceUID,
    ).toBe(instance.sopInstanceUid);
  });

  it('publishes every service in services.json', () => {
    const status = readStatusFile(stack.statusFile);
    expect(status).not.toBeNull();
    for (const name of ['orthanc', 'redis', 's3', 'postgres']) {
      expect(status!.services[name]?.state, name).toBe('ok');
    }
  });
});

describe('Redis', () => {
  it('the private Redis answers PING', async () => {
    const port = Number(new URL(stack.redisUrl).port);
    expect(await redisPing(port, AbortSignal.timeout(2000))).toBe(true);
    await expect(checkRedisReachable(stack.redisUrl)).resolves.toBeUndefined();
  });

  it('checkRedisReachable fails fast with a message naming REDIS_URL', async () => {
    const port = await freePort(); // nothing listens there
    const t0 = Date.now();
    const err = await checkRedisReachable(`redis://:secretpw@127.0.0.1:${port}`, 2000).then(
      () => null,
      (e: Error) => e,
    );
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(err?.message).toMatch(/REDIS_URL/);
    // The password never appears in the message.
    expect(err?.message).not.toMatch(/secretpw/);
  });
});

describe('secrets', () => {
  it('keeps values across calls, fills missing keys, and stays mode 0600', () => {
    const dir = join(scratch, 'secrets');
    const first = loadOrCreateSecrets(dir);
    const file = join(dir, 'secrets.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(first.tokenSecret.length).toBeGreaterThanOrEqual(48);
    expect(loadOrCreateSecrets(dir)).toEqual(first);

    // An older file without some key: the missing one is generated, the others are kept.
    const { adminPassword: _dropped, ...older } = first;
    writeFileSync(file, JSON.stringify(older), { mode: 0o644 });
    const upgraded = loadOrCreateSecrets(dir);
    expect(upgraded.tokenSecret).toBe(first.tokenSecret);
    expect(upgraded.orthancPassword).toBe(first.orthancPassword);
    expect(upgraded.adminPassword.length).toBeGreaterThan(10);
    expect(loadOrCreateSecrets(dir)).toEqual(upgraded);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('S3 and PostgreSQL', () => {
  it('the bucket exists and objects round-trip', async () => {
    const client = s3Client(stack.s3);
    expect(await client.bucketExists(stack.s3.bucket)).toBe(true);
    const key = `services-test/${Date.now()}.txt`;
    await client.putObject(stack.s3.bucket, key, Buffer.from('hello'));
    const stream = await client.getObject(stack.s3.bucket, key);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('hello');
    await client.removeObject(stack.s3.bucket, key);
  });

  it('gives each test file its own database', async () => {
    const url = await createDatabase(stack.postgresUrl);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ db: string; v: string }>(
        'select current_database() db, version() v',
      );
      expect(url.endsWith(`/${rows[0]!.db}`)).toBe(true);
      expect(rows[0]!.v).toMatch(/PostgreSQL 15/);
    } finally {
      await client.end();
    }
    await dropDatabase(url);
  });
});
