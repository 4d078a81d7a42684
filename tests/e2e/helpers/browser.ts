/**
 * The browser harness of the e2e tier (and the viewer benchmarks): Debian's Chromium driven by
 * playwright-core, one browser per test file, a fresh context (cookies, cache, storage) per test.
 *
 *   const browser = await launchBrowser();
 *   const t = await browser.newTest('ohif study list', { width: 1366, height: 768 });
 *   await loginInBrowser(t, baseUrl, 'bs.hoa', password);   // HttpOnly session cookie
 *   await t.page.goto(baseUrl);
 *   await t.screenshot('study-list');                       // test-artifacts/<test>/study-list.png
 *   t.assertNoErrors([/expected noise/]);
 *   await t.close(); await browser.close();
 *
 * Invariants:
 *  - Never downloads a browser: playwright-core is only pointed at /usr/bin/chromium, and the
 *    launch flags turn off Chromium's own background network use (updates, sync, QUIC probes).
 *    Only loopback addresses are ever visited.
 *  - Every console error and uncaught page error of a test is recorded, so a test can assert
 *    that nothing went wrong silently (a viewer that "renders" but logged a failed decode).
 *  - Memory figures cover exactly this browser: the process tree rooted at the Chromium this
 *    harness spawned (not other engineers' browsers on the same machine).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type CDPSession, chromium, type Page } from 'playwright-core';
import { REPO_ROOT } from '../../../scripts/services/paths.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS_ROOT = join(REPO_ROOT, 'test-artifacts');

const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  // performance.memory is bucketed and delayed without it; the viewer benchmark compares peaks.
  '--enable-precise-memory-info',
];

export interface Viewport {
  width: number;
  height: number;
}

/** Viewport sizes the viewer issue requires (reading room, tablet, phone). */
export const VIEWPORTS = {
  desktop: { width: 1366, height: 768 },
  tablet: { width: 768, height: 1024 },
  phone: { width: 390, height: 844 },
} as const satisfies Record<string, Viewport>;

export interface BrowserProblem {
  kind: 'console' | 'pageerror' | 'requestfailed';
  text: string;
  url?: string;
}

export interface Throttle {
  /** Download and upload bandwidth, bits per second. */
  bitsPerSecond: number;
  /** Added round-trip latency, ms. */
  latencyMs: number;
}

/** The issue's slow-link condition: 2 Mbit/s and 150 ms round trip. */
export const SLOW_LINK: Throttle = { bitsPerSecond: 2_000_000, latencyMs: 150 };

export interface PageMemory {
  usedJSHeapSize: number;
  totalJSHeapSize: number;
  jsHeapSizeLimit: number;
}

export interface BrowserTest {
  readonly name: string;
  readonly context: BrowserContext;
  readonly page: Page;
  /** Directory of this test's artefacts (created on first use). */
  readonly artifactsDir: string;
  readonly problems: BrowserProblem[];
  /**
   * Saves a PNG of the page (or of one element) to `test-artifacts/<test>/<name>.png`; returns the
   * bytes. `close()` also saves `last.png` and, when there were any, `problems.json`.
   */
  screenshot(name: string, selector?: string): Promise<Buffer>;
  /** Writes any other artefact (JSON, HTML dump) next to the screenshots. */
  saveArtifact(fileName: string, data: string | Buffer): string;
  /** Throws listing every recorded problem that no pattern allows. */
  assertNoErrors(allowed?: readonly RegExp[]): void;
  /** Throttles this page's network through the DevTools protocol; `null` lifts it. */
  throttle(t: Throttle | null): Promise<void>;
  /** `performance.memory` of the page (Chromium only). */
  pageMemory(): Promise<PageMemory>;
  close(): Promise<void>;
}

export interface LaunchedBrowser {
  readonly browser: Browser;
  /** Summed RSS (bytes) of this browser's processes: the browser, its zygotes, renderers, GPU, utilities. */
  rssBytes(): number;
  newTest(name: string, viewport: Viewport): Promise<BrowserTest>;
  close(): Promise<void>;
}

/** Directory name for a test: letters, digits and dashes only. */
export function artifactDirName(testName: string): string {
  return (
    testName
      .normalize('NFD')
      .replace(/\p{M}/gu, '')
      .replace(/[^A-Za-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .toLowerCase()
      .slice(0, 80) || 'test'
  );
}

/** ppid of a process, from /proc/<pid>/stat (the field after the parenthesised command). */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[1]);
  } catch {
    return null; // exited meanwhile
  }
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

function childrenOf(pid: number): number[] {
  return allPids().filter((p) => parentOf(p) === pid);
}

/** The process tree under `root`, root included. */
export function processTree(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const p of allPids()) {
    const pp = parentOf(p);
    if (pp === null) continue;
    const list = parents.get(pp) ?? [];
    list.push(p);
    parents.set(pp, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(parents.get(p) ?? []));
  }
  return out;
}

/** VmRSS of a process in bytes (0 when it has exited). */
export function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function isChromium(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('chromium');
  } catch {
    return false;
  }
}

export async function launchBrowser(): Promise<LaunchedBrowser> {
  // The browser's root process is the chromium child of this process that did not exist before
  // (so launches within one process must not overlap: vitest runs one e2e file per process).
  const before = new Set(childrenOf(process.pid));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: LAUNCH_ARGS,
    // Playwright adds --headless itself in headless mode; ours stays for a manual `chromium` replay.
    headless: true,
    timeout: 60_000,
  });
  const roots = childrenOf(process.pid).filter((p) => !before.has(p) && isChromium(p));
  const rssBytes = () => roots.flatMap(processTree).reduce((sum, p) => sum + rssOf(p), 0);

  return {
    browser,
    rssBytes,
    newTest: (name, viewport) => newBrowserTest(browser, name, viewport),
    async close() {
      await browser.close();
    },
  };
}

async function newBrowserTest(browser: Browser, name: string, viewport: Viewport): Promise<BrowserTest> {
  const context = await browser.newContext({
    viewport,
    deviceScaleFactor: 1,
    // Vietnamese UI first, as a user here would have it; viewers fall back to English.
    locale: 'vi-VN',
    timezoneId: 'Asia/Ho_Chi_Minh',
    // A service worker would serve cached viewer files and hide what the server sent.
    serviceWorkers: 'block',
  });
  const page = await context.newPage();
  const problems: BrowserProblem[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push({ kind: 'console', text: msg.text(), url: msg.location().url });
  });
  page.on('pageerror', (err) => problems.push({ kind: 'pageerror', text: `${err.name}: ${err.message}` }));
  page.on('requestfailed', (req) => {
    const reason = req.failure()?.errorText ?? 'failed';
    // Navigations and aborted prefetches cancel requests on purpose.
    if (reason !== 'net::ERR_ABORTED') problems.push({ kind: 'requestfailed', text: reason, url: req.url() });
  });

  const artifactsDir = join(ARTIFACTS_ROOT, artifactDirName(name));
  let cdp: CDPSession | null = null;
  const t: BrowserTest = {
    name,
    context,
    page,
    artifactsDir,
    problems,
    async screenshot(shot, selector) {
      mkdirSync(artifactsDir, { recursive: true });
      const path = join(artifactsDir, `${artifactDirName(shot)}.png`);
      if (selector) return page.locator(selector).first().screenshot({ path, animations: 'disabled' });
      return page.screenshot({ path, animations: 'disabled' });
    },
    saveArtifact(fileName, data) {
      mkdirSync(artifactsDir, { recursive: true });
      const path = join(artifactsDir, fileName);
      writeFileSync(path, data);
      return path;
    },
    assertNoErrors(allowed = []) {
      const unexpected = problems.filter((p) => !allowed.some((re) => re.test(p.text)));
      if (unexpected.length > 0) {
        const lines = unexpected.map((p) => `  ${p.kind}: ${p.text}${p.url ? ` (${p.url})` : ''}`);
        throw new Error(`${unexpected.length} browser error(s) in "${name}":\n${lines.join('\n')}`);
      }
    },
    async throttle(th) {
      cdp ??= await context.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false,
        latency: th?.latencyMs ?? 0,
        // CDP wants bytes per second; -1 disables throttling.
        downloadThroughput: th ? th.bitsPerSecond / 8 : -1,
        uploadThroughput: th ? th.bitsPerSecond / 8 : -1,
      });
    },
    pageMemory: () =>
      page.evaluate(() => {
        // Runs in the page: Chromium's non-standard performance.memory (typed here; no DOM lib).
        const m = (performance as unknown as { memory?: PageMemory }).memory;
        if (!m) throw new Error('performance.memory is not available in this browser');
        return {
          usedJSHeapSize: m.usedJSHeapSize,
          totalJSHeapSize: m.totalJSHeapSize,
          jsHeapSizeLimit: m.jsHeapSizeLimit,
        };
      }),
    async close() {
      // What the page looked like at the end, and what went wrong: the first things to look at
      // when a test failed (taken on success too; they are small).
      mkdirSync(artifactsDir, { recursive: true });
      await page.screenshot({ path: join(artifactsDir, 'last.png') }).catch(() => {});
      if (problems.length > 0)
        writeFileSync(join(artifactsDir, 'problems.json'), JSON.stringify(problems, null, 2));
      await cdp?.detach().catch(() => {});
      await context.close();
    },
  };
  return t;
}

/**
 * Logs in through the gateway's API from inside the browser context, so the context holds the
 * HttpOnly, SameSite=Strict `radlink_session` cookie for `baseUrl`'s origin exactly as after a
 * login form (the request shares the context's cookie jar). Returns the bearer token too.
 */
export async function loginInBrowser(
  t: BrowserTest,
  baseUrl: string,
  username: string,
  password: string,
): Promise<string> {
  const res = await t.context.request.post(`${baseUrl}/api/auth/login`, {
    data: { username, password },
    headers: { origin: new URL(baseUrl).origin },
  });
  if (res.status() !== 200) throw new Error(`login ${username}: HTTP ${res.status()} ${await res.text()}`);
  const cookies = await t.context.cookies(baseUrl);
  if (!cookies.some((c) => c.name === 'radlink_session' && c.httpOnly)) {
    throw new Error(`login ${username}: no HttpOnly radlink_session cookie was set for ${baseUrl}`);
  }
  return ((await res.json()) as { token: string }).token;
}
