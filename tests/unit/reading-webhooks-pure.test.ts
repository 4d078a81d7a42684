/**
 * Webhook building blocks without services: the signature (checked against a vector computed
 * with Python's hmac module), the addresses webhooks may not reach, and the secret's sealing.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import { describe, expect, it } from 'vitest';
import {
  checkWebhookTarget,
  forbiddenAddress,
  guardedLookup,
  signWebhook,
  webhookPayload,
} from '../../server/src/reading/webhooks-delivery.js';
import { SecretBox } from '../../server/src/reading/webhooks-repo.js';

describe('signWebhook', () => {
  it('is HMAC-SHA256 over "<timestamp>.<body>", hex, prefixed sha256=', () => {
    // python3 -c "import hmac,hashlib; print(hmac.new(b'central-webhook-secret-0123456789',
    //   b'1764000000.{\"id\":\"42\",\"type\":\"request.created\"}', hashlib.sha256).hexdigest())"
    expect(
      signWebhook('central-webhook-secret-0123456789', 1764000000, '{"id":"42","type":"request.created"}'),
    ).toBe('sha256=2e6a2c4f0febe12b28677cb5700f2b0fb8ecbbd21b948a1c3b78c36d34304fa3');
    expect(
      signWebhook('central-webhook-secret-0123456789', 1764000001, '{"id":"42","type":"request.created"}'),
    ).not.toBe('sha256=2e6a2c4f0febe12b28677cb5700f2b0fb8ecbbd21b948a1c3b78c36d34304fa3');
  });

  it('the payload names the receiving facility and carries the event data as is', () => {
    const e = {
      id: '7',
      type: 'request.claimed' as const,
      at: '2026-01-01T00:00:00.000Z',
      recipients: null,
      data: {
        requestId: 'r',
        studyUid: '1.2',
        status: 'claimed' as const,
        priority: 'stat' as const,
        specialtyPool: null,
        requestingFacilityId: 'a',
        targetFacilityId: 'b',
        claimedById: 'u',
      },
    };
    expect(webhookPayload(e, 'a')).toEqual({
      id: '7',
      type: 'request.claimed',
      at: e.at,
      facilityId: 'a',
      data: e.data,
    });
  });
});

describe('forbiddenAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['0.0.0.0', true],
    ['169.254.169.254', true],
    ['224.0.0.1', true],
    ['::1', true],
    ['::', true],
    ['fe80::1', true],
    ['::ffff:127.0.0.1', true],
    ['ff02::1', true],
    ['10.1.2.3', false],
    ['192.168.1.20', false],
    ['172.16.0.5', false],
    ['203.113.131.1', false],
    ['2001:db8::1', false],
    ['::ffff:10.0.0.1', false],
  ])('%s -> %s', (ip, forbidden) => {
    expect(forbiddenAddress(ip)).toBe(forbidden);
  });
});

describe('checkWebhookTarget', () => {
  it('refuses names that resolve to loopback unless allowed; private LAN addresses pass', async () => {
    await expect(checkWebhookTarget('http://localhost:8042/tools', false)).rejects.toThrow(/loopback/);
    await expect(checkWebhookTarget('http://[::1]:6379/', false)).rejects.toThrow(/loopback/);
    await expect(checkWebhookTarget('http://169.254.169.254/latest', false)).rejects.toThrow(/link-local/);
    await expect(checkWebhookTarget('http://localhost:8042/tools', true)).resolves.toBeUndefined();
    await expect(checkWebhookTarget('https://10.20.30.40/sms', false)).resolves.toBeUndefined();
  });
});

describe('SecretBox', () => {
  const box = new SecretBox('test-token-secret-0123456789abcdef0123456789');
  it('round-trips, hides the secret, and gives a four-character hint', () => {
    const sealed = box.seal('my-webhook-secret-XYZ1');
    expect(JSON.stringify(sealed)).not.toContain('my-webhook-secret');
    expect(sealed.hint).toBe('XYZ1');
    expect(box.open(sealed)).toBe('my-webhook-secret-XYZ1');
    // A fresh IV each time.
    expect(box.seal('my-webhook-secret-XYZ1').ct).not.toBe(sealed.ct);
  });
  it('refuses a tampered ciphertext and another installation key', () => {
    const sealed = box.seal('my-webhook-secret-XYZ1');
    const ct = Buffer.from(sealed.ct, 'base64url');
    ct[0]! ^= 1;
    expect(() => box.open({ ...sealed, ct: ct.toString('base64url') })).toThrow();
    expect(() => new SecretBox('another-token-secret-0123456789abcdef012345').open(sealed)).toThrow();
  });
});

describe('guardedLookup (DNS rebinding)', () => {
  it('judges the address the socket connects to, not an earlier answer', async () => {
    // A hostile resolver: a public address for the first question, loopback for the next.
    let calls = 0;
    const rebinding = (
      _h: string,
      _o: unknown,
      cb: (e: null, a: { address: string; family: number }[]) => void,
    ) => cb(null, [{ address: ++calls === 1 ? '203.0.113.7' : '127.0.0.1', family: 4 }]);
    const lookup = guardedLookup(rebinding as never);
    const ask = () =>
      new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) =>
        lookup('hooks.example.vn', {}, (err, address) => resolve({ err, address })),
      );
    expect(await ask()).toEqual({ err: null, address: '203.0.113.7' });
    const second = await ask();
    expect(second.err?.code).toBe('RADLINK_FORBIDDEN_ADDRESS');
  });

  it('stops a real connection to a name that resolves to loopback', async () => {
    let reached = 0;
    const server = createServer((_q, r) => {
      reached++;
      r.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const agent = new Agent({ connect: { lookup: guardedLookup() as never } });
    try {
      const err = await undiciFetch(`http://localhost:${port}/`, { dispatcher: agent }).then(
        () => null,
        (e: Error & { cause?: { code?: string } }) => e,
      );
      expect(err?.cause?.code).toBe('RADLINK_FORBIDDEN_ADDRESS');
      expect(reached).toBe(0);
      // The same server by a name the guard allows is reached (the guard is not refusing everything).
      const plain = await undiciFetch(`http://127.0.0.1:${port}/`);
      expect(await plain.text()).toBe('ok');
      expect(reached).toBe(1);
    } finally {
      await agent.close();
      server.close();
    }
  });
});
