/**
 * The few HTTP calls every benchmark makes to a RadLink gateway it started: wait for it to be
 * ready, call its JSON API with a bearer token, log in. One copy, so the benchmarks cannot drift
 * apart in how they judge an answer.
 */

/** Polls `url` until it answers 200 (a process still starting refuses connections). */
export async function waitHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * One JSON API call; any status from 300 up throws with the answer's start, except those listed in
 * `tolerate` (e.g. 409 when a set-up step may find its object already created).
 */
export async function api<T>(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  tolerate: readonly number[] = [],
): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300 && !tolerate.includes(res.status))
    throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : null) as T;
}

export async function login(base: string, username: string, password: string): Promise<string> {
  return (await api<{ token: string }>(base, '', 'POST', '/api/auth/login', { username, password })).token;
}
