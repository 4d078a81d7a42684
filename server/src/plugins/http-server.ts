/**
 * The Node HTTP(S) server under Fastify, built here so its slow-client limits are set where Node
 * reads them (some only at construction):
 *  - headersTimeout: a client has this long to send its request headers. Slowloris-style clients
 *    that trickle header bytes are cut off instead of holding a socket for ever.
 *  - requestTimeout: the whole request, body included. Generous by default: a district hospital
 *    uploading a CT over 2 Mbit/s needs many minutes, and STOW streams it.
 *  - connectionsCheckingInterval: how often Node enforces the two above (default 30 s, which
 *    would let a trickling client live 30 s past the limit).
 * Idle keep-alive sockets close after keepAliveTimeout, as Fastify sets by default.
 */
import { createServer as createHttp, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';

export interface HttpLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export function serverFactory(limits: HttpLimits, tls?: { key: Buffer; cert: Buffer }) {
  const opts = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: Math.max(250, Math.min(5_000, Math.floor(limits.headersTimeoutMs / 4))),
  };
  return (handler: Handler) => (tls ? createHttps({ ...opts, ...tls }, handler) : createHttp(opts, handler));
}
