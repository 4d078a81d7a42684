/**
 * For the viewer shell's browser tests: the gateway listening on a loopback port and serving the
 * built viewer (viewer/dist) at `/`, API calls as demo users, and the layout check every
 * viewport size must pass (no page-wide horizontal scrolling).
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { REPO_ROOT } from '../../../scripts/services/paths.js';
import { bearer, buildTestApp, type TestApp } from '../../helpers/app.js';
import type { BrowserTest } from './browser.js';
import { createDemoOrganisation, demoLogin } from './demo-data.js';

export interface ViewerGateway {
  t: TestApp;
  baseUrl: string;
  /** JSON API call as a demo user (logged in once per user); throws on an unexpected status. */
  api<T = unknown>(user: string, method: string, url: string, payload?: unknown, expect?: number): Promise<T>;
  close(): Promise<void>;
}

/** The viewer `npm run build:viewer` builds (npm test builds it before the test tiers). */
export const VIEWER_DIST = join(REPO_ROOT, 'viewer', 'dist');

export async function startViewerGateway(
  name: string,
  env: Record<string, string> = {},
): Promise<ViewerGateway> {
  const t = await buildTestApp({ name, env: { RADLINK_VIEWER_DIR: VIEWER_DIST, ...env } });
  await createDemoOrganisation(t);
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const address = t.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('gateway has no TCP address');
  const tokens = new Map<string, string>();
  const tokenOf = async (user: string) => {
    let tok = tokens.get(user);
    if (!tok) {
      const u = demoLogin(user);
      tok = await t.login(u.username, u.password);
      tokens.set(user, tok);
    }
    return tok;
  };
  return {
    t,
    baseUrl: `http://127.0.0.1:${address.port}`,
    async api<T>(user: string, method: string, url: string, payload?: unknown, expect?: number) {
      const res = await t.app.inject({
        method: method as 'GET',
        url,
        headers: bearer(await tokenOf(user)),
        ...(payload !== undefined ? { payload: payload as object } : {}),
      });
      const ok =
        expect !== undefined ? res.statusCode === expect : res.statusCode >= 200 && res.statusCode < 300;
      if (!ok)
        throw new Error(`${method} ${url} as ${user}: HTTP ${res.statusCode} ${res.body.slice(0, 300)}`);
      return (res.body ? res.json() : null) as T;
    },
    close: () => t.close(),
  };
}

/** The page is not wider than the viewport (a phone would scroll sideways otherwise). */
export async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => {
    // Runs in the page (this tree is typechecked without the DOM library).
    const root = (
      globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }
    ).document.documentElement;
    return root.scrollWidth - root.clientWidth;
  });
}

/** Fails when the shell's build is missing: every test here needs the real viewer at `/`. */
export async function assertViewerServed(baseUrl: string): Promise<void> {
  const html = await (await fetch(`${baseUrl}/`)).text();
  if (!html.includes('<div id="app">') || !/assets\/index-[\w-]+\.js/.test(html))
    throw new Error('viewer/dist is not built: run `npm run build:viewer` first');
}

/**
 * Removes from a test's recorded problems the failed-resource messages of answers the page
 * expects and handles (e.g. 404 "no report yet", 403 wrong PIN): Chromium logs every 4xx
 * response as a console error. Each must be named by status and URL, so nothing else hides.
 */
export function expectResponses(bt: BrowserTest, expected: { status: number; url: RegExp }[]): void {
  for (let i = bt.problems.length - 1; i >= 0; i--) {
    const p = bt.problems[i]!;
    const m = /status of (\d{3})/.exec(p.text);
    if (m && expected.some((e) => e.status === Number(m[1]) && e.url.test(p.url ?? '')))
      bt.problems.splice(i, 1);
  }
}
