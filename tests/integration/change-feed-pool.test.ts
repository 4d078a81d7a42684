/**
 * The change feed reads Orthanc through sockets of its own: with every socket of the gateway's
 * main Orthanc pool busy (as under 50 scrolling viewers, where the load benchmark saw the index
 * fall minutes behind DIMSE sends while the feed shared that pool), an instance arriving in
 * Orthanc is still indexed within seconds.
 */
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth } from '../../scripts/services/orthanc.js';
import { buildTestApp, feedCaughtUp, stack, type TestApp } from '../helpers/app.js';
import { makeInstance } from '../helpers/dicom.js';
import { tinyDicom } from '../helpers/tiny-dicom.js';

let t: TestApp;
const held: Readable[] = [];
/** Requests left queued behind the held sockets: answered once those are released, then drained. */
const queued: Promise<unknown>[] = [];

async function postToOrthanc(bytes: Buffer): Promise<string> {
  const s = stack();
  const res = await fetch(`${s.orthanc.url}/instances`, {
    method: 'POST',
    body: bytes,
    headers: {
      authorization: basicAuth(s.orthanc.username, s.orthanc.password),
      'content-type': 'application/dicom',
    },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { ID: string }).ID;
}

beforeAll(async () => {
  t = await buildTestApp({ name: 'change-feed-pool' });
});

afterAll(async () => {
  for (const b of held) b.destroy();
  // The pool closes only when its queued requests have been answered and their bodies read.
  await Promise.all(queued);
  await t?.close();
});

describe('change feed under a saturated Orthanc pool', () => {
  it('indexes a new instance while every socket of the main pool is held by large reads', async () => {
    // Measured from a caught-up feed (the main pool is still free for this check).
    await feedCaughtUp(t);
    // A 4 MB instance: its body, left unread, keeps a socket busy (backpressure).
    const big = makeInstance({ rows: 1024, columns: 1024, frames: 2 });
    const bigId = await postToOrthanc(big.bytes);
    for (let i = 0; i < 40; i++) {
      const pending = t.app.orthanc.request('GET', `/instances/${bigId}/file`);
      const res = await Promise.race([pending, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
      if (!res) {
        // The pool is full: this request queues until a socket is released.
        queued.push(pending.then((r) => (r.body as unknown as Readable).resume()));
        break;
      }
      held.push(res.body as unknown as Readable);
    }
    expect(held.length, 'the main pool holds its 32 sockets').toBe(32);
    // Proof the main pool is saturated: one more request through it does not get an answer.
    const system = t.app.orthanc.request('GET', '/system');
    queued.push(system.then((r) => (r.body as unknown as Readable).resume()));
    const blocked = await Promise.race([
      system.then(() => 'answered'),
      new Promise<string>((r) => setTimeout(() => r('waiting'), 2000)),
    ]);
    expect(blocked).toBe('waiting');

    const fresh = tinyDicom();
    await postToOrthanc(fresh.bytes);
    const t0 = Date.now();
    for (;;) {
      const rows = await t.db.query('SELECT 1 FROM instances WHERE sop_instance_uid = $1', [
        fresh.sopInstanceUid,
      ]);
      if (rows.length) break;
      if (Date.now() - t0 > 10_000)
        throw new Error('not indexed within 10 s while the main pool was saturated');
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`[feed-pool] indexed in ${Date.now() - t0} ms with the main pool saturated`);
  });
});
