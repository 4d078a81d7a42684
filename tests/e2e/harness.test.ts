/**
 * The browser harness itself (helpers/browser.ts), on a tiny local page: other e2e tests and the
 * viewer benchmarks trust its error capture, throttling and memory figures, so each is shown to
 * work (and to be able to fail) here.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK } from '../../scripts/services/ports.js';
import { type LaunchedBrowser, launchBrowser, SLOW_LINK, VIEWPORTS } from './helpers/browser.js';

const PAYLOAD = Buffer.alloc(250_000, 7); // 2 Mbit/s → ≥ 1 s for 250 kB

let server: Server;
let base: string;
let browser: LaunchedBrowser;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/payload') {
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': PAYLOAD.length,
        'cache-control': 'no-store',
      });
      res.end(PAYLOAD);
    } else if (req.url === '/noisy') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><p>noisy</p><script>console.error("planted error"); null.x;</script>');
    } else {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>ok</title><p style="font-size:40px">Nguyễn Thị Minh Khai</p>');
    }
  });
  await new Promise<void>((resolve) => server.listen({ host: LOOPBACK, port: 0 }, resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  base = `http://${LOOPBACK}:${addr.port}`;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

describe('browser harness', () => {
  it('uses the viewport size, saves screenshots, and reads memory of page and processes', async () => {
    const bt = await browser.newTest('harness basics', VIEWPORTS.phone);
    try {
      await bt.page.goto(base);
      const size = await bt.page.evaluate(() => {
        // Runs in the page (no DOM lib in this project's types).
        const w = globalThis as unknown as { innerWidth: number; innerHeight: number };
        return [w.innerWidth, w.innerHeight];
      });
      expect(size).toEqual([390, 844]);
      const png = await bt.screenshot('page');
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(existsSync(join(bt.artifactsDir, 'page.png'))).toBe(true);
      const mem = await bt.pageMemory();
      expect(mem.usedJSHeapSize).toBeGreaterThan(0);
      // The browser, its zygotes and a renderer at least: tens of MiB, less than the machine.
      const rss = browser.rssBytes();
      expect(rss).toBeGreaterThan(30 * 2 ** 20);
      expect(rss).toBeLessThan(8 * 2 ** 30);
      bt.assertNoErrors();
    } finally {
      await bt.close();
    }
  });

  it('records console errors and uncaught page errors, and assertNoErrors fails on them', async () => {
    const bt = await browser.newTest('harness errors', VIEWPORTS.desktop);
    try {
      await bt.page.goto(`${base}/noisy`);
      await expect.poll(() => bt.problems.length).toBeGreaterThanOrEqual(2);
      expect(bt.problems.map((p) => p.kind).sort()).toEqual(['console', 'pageerror']);
      expect(() => bt.assertNoErrors()).toThrow(/planted error/);
      expect(() => bt.assertNoErrors([/planted error/, /null/])).not.toThrow();
    } finally {
      await bt.close();
    }
  });

  it('throttles the page to 2 Mbit/s and 150 ms through the DevTools protocol, and lifts it', async () => {
    const bt = await browser.newTest('harness throttle', VIEWPORTS.desktop);
    try {
      await bt.page.goto(base);
      const fetchMs = () =>
        bt.page.evaluate(async (url) => {
          const t0 = performance.now();
          await (await fetch(url)).arrayBuffer();
          return performance.now() - t0;
        }, `${base}/payload`);
      await bt.throttle(SLOW_LINK);
      const slow = await fetchMs();
      await bt.throttle(null);
      const fast = await fetchMs();
      // 250 kB at 2 Mbit/s is 1 s of transfer plus the added round trip.
      expect(slow).toBeGreaterThan(900);
      expect(fast).toBeLessThan(slow / 3);
    } finally {
      await bt.close();
    }
  });
});
