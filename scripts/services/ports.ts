/**
 * Free loopback ports. The OS picks a port (listen on 0), we close the socket and hand the number
 * out. There is an unavoidable window in which another process could take it, so callers ask for
 * all their ports at once (distinct numbers guaranteed) and start services right away.
 */
import { connect, createServer } from 'node:net';

/** Only loopback is ever used: services bind 127.0.0.1 and must never listen on other interfaces. */
export const LOOPBACK = '127.0.0.1';

function onePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('could not obtain a free port'))));
    });
  });
}

/** `count` distinct free ports on 127.0.0.1. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  // Ports are requested sequentially: concurrent listen(0) calls may be handed the same number
  // once the previous socket closed.
  while (ports.size < count) ports.add(await onePort());
  return [...ports];
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function isPortOpen(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: LOOPBACK, port });
    const done = (open: boolean) => {
      sock.destroy();
      resolve(open);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}
