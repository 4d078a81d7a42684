/**
 * Webhook delivery. The events sink writes one delivery row per subscribed facility (the row
 * holds the payload: ids and statuses, never patient data) and queues a job naming only the
 * row. A gateway's worker POSTs it, signed:
 *
 *   X-RadLink-Timestamp: <unix seconds of this attempt>
 *   X-RadLink-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *   X-RadLink-Event: <type>   X-RadLink-Event-Id: <event id>   X-RadLink-Delivery: <delivery id>
 *
 * A receiver recomputes the HMAC over the exact body bytes, compares in constant time and
 * refuses old timestamps (replays). A 2xx answer delivers; 408, 429, 5xx and network errors
 * retry with exponential backoff (RADLINK_WEBHOOK_RETRY_BASE_MS, doubling) up to
 * RADLINK_WEBHOOK_ATTEMPTS; other 4xx answers, redirects and forbidden addresses fail at once.
 *
 * Which facilities receive an event: each facility whose staff may see the request (its two
 * facilities); an addressed event (a STAT alert with recipients) only the target facility's.
 */
import { createHmac } from 'node:crypto';
import dns, { type LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';
import { Agent, fetch as undiciFetch } from 'undici';
import { jobId, QUEUES, type WebhookJob } from '../../../contracts/jobs.js';
import type { ReadingEvent } from './events.js';
import type { WebhookRepo } from './webhooks-repo.js';

const TIMEOUT_MS = 10_000;

export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a facility's endpoint receives as the JSON body. */
export function webhookPayload(e: ReadingEvent, facilityId: string) {
  return { id: e.id, type: e.type, at: e.at, facilityId, data: e.data };
}

/** Loopback, link-local (cloud metadata), unspecified and multicast addresses. */
export function forbiddenAddress(ip: string): boolean {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  if (isIP(v4) === 4) {
    const [a, b] = v4.split('.').map(Number) as [number, number];
    return a === 127 || a === 0 || (a === 169 && b === 254) || a >= 224;
  }
  const v6 = ip.toLowerCase();
  return (
    v6 === '::1' ||
    v6 === '::' ||
    v6.startsWith('fe8') ||
    v6.startsWith('fe9') ||
    v6.startsWith('fea') ||
    v6.startsWith('feb') ||
    v6.startsWith('ff')
  );
}

/** Throws when the URL's host is (or resolves to) an address webhooks may not reach. */
export async function checkWebhookTarget(url: string, allowLoopback: boolean): Promise<void> {
  if (allowLoopback) return;
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  if (addresses.some(forbiddenAddress))
    throw new UnrecoverableError(
      'The webhook host is a loopback or link-local address, which is not allowed.',
    );
}

const FORBIDDEN_CODE = 'RADLINK_FORBIDDEN_ADDRESS';
type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;
type BaseLookup = (
  hostname: string,
  options: dns.LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * A `lookup` for sockets that refuses forbidden addresses at connect time. Checking the name
 * before the request is not enough: a hostile DNS server can answer a public address to the
 * check and 127.0.0.1 to the connection a moment later (DNS rebinding). Validating the very
 * address the socket connects to closes that gap.
 */
export function guardedLookup(base: BaseLookup = dns.lookup as unknown as BaseLookup) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    base(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      if (!addresses.length || addresses.some((a) => forbiddenAddress(a.address))) {
        const e: NodeJS.ErrnoException = new Error(
          'The webhook host resolves to a loopback or link-local address, which is not allowed.',
        );
        e.code = FORBIDDEN_CODE;
        return callback(e, '');
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0] as LookupAddress;
      callback(null, first.address, first.family);
    });
  };
}

/** Connections for webhook deliveries when loopback targets are not allowed (production). */
const guardedAgent = new Agent({ connect: { lookup: guardedLookup() as never } });

export interface WebhookDeliveryOptions {
  repo: WebhookRepo;
  redis: Redis;
  redisUrl: string;
  prefix: string;
  attempts: number;
  retryBaseMs: number;
  allowLoopback: boolean;
  registry: Registry;
  log: FastifyBaseLogger;
}

export class WebhookDelivery {
  readonly queue: Queue<WebhookJob>;
  private worker: Worker<WebhookJob> | undefined;
  private connection: Redis | undefined;
  private readonly outcomes: Counter<'outcome'>;

  constructor(private readonly o: WebhookDeliveryOptions) {
    this.queue = new Queue<WebhookJob>(QUEUES.webhooks, {
      connection: o.redis,
      prefix: o.prefix,
      defaultJobOptions: {
        attempts: o.attempts,
        backoff: { type: 'exponential', delay: o.retryBaseMs },
        removeOnComplete: true,
        removeOnFail: { count: 10_000 },
      },
    });
    this.outcomes = new Counter({
      name: 'radlink_webhook_attempts_total',
      help: 'Webhook delivery attempts by outcome (delivered, retry, failed)',
      labelNames: ['outcome'],
      registers: [o.registry],
    });
  }

  /** The events sink: one delivery per subscribed facility. */
  readonly sink = async (e: ReadingEvent): Promise<void> => {
    const facilities = e.recipients
      ? [e.data.targetFacilityId]
      : [...new Set([e.data.requestingFacilityId, e.data.targetFacilityId])];
    for (const hook of await this.o.repo.subscribed(facilities, e.type)) {
      const id = await this.o.repo.createDelivery({
        facilityId: hook.facilityId,
        eventId: e.id,
        eventType: e.type,
        url: hook.url,
        payload: webhookPayload(e, hook.facilityId),
      });
      if (id) await this.enqueue(id);
    }
  };

  async enqueue(deliveryId: string): Promise<void> {
    await this.queue.add('deliver', { deliveryId }, { jobId: jobId('webhook', deliveryId) });
  }

  /** One attempt; throws to be retried, UnrecoverableError to stop. */
  private async attempt(job: Job<WebhookJob>): Promise<void> {
    const d = await this.o.repo.delivery(job.data.deliveryId);
    if (d?.status !== 'pending') return;
    const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    let url = d.url;
    const fail = async (statusCode: number | null, error: string, retry: boolean): Promise<never> => {
      const final = !retry || last;
      await this.o.repo.recordAttempt(d.id, { status: final ? 'failed' : 'pending', statusCode, error, url });
      this.outcomes.inc({ outcome: final ? 'failed' : 'retry' });
      throw final ? new UnrecoverableError(error) : new Error(error);
    };
    let hook: Awaited<ReturnType<WebhookRepo['forDelivery']>>;
    try {
      hook = await this.o.repo.forDelivery(d.facilityId);
    } catch (err) {
      if ((err as Error).message.includes('authenticate'))
        return fail(
          null,
          'The webhook secret cannot be decrypted (RADLINK_TOKEN_SECRET changed?): set it again.',
          false,
        );
      throw err;
    }
    if (!hook?.enabled) return fail(null, 'The webhook was removed or disabled.', false);
    // The URL as configured now: an admin fixing a wrong URL rescues pending deliveries.
    url = hook.url;
    try {
      await checkWebhookTarget(url, this.o.allowLoopback);
    } catch (err) {
      return fail(null, (err as Error).message, !(err instanceof UnrecoverableError));
    }
    const body = JSON.stringify(d.payload);
    const timestamp = Math.floor(Date.now() / 1000);
    let res: Response;
    try {
      res = (await undiciFetch(url, {
        ...(this.o.allowLoopback ? {} : { dispatcher: guardedAgent }),
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(TIMEOUT_MS),
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'RadLink-Webhooks/1',
          'x-radlink-event': d.eventType,
          'x-radlink-event-id': d.eventId,
          'x-radlink-delivery': d.id,
          'x-radlink-timestamp': String(timestamp),
          'x-radlink-signature': signWebhook(hook.secret, timestamp, body),
        },
        body,
      })) as unknown as Response;
      // The answer's body is not needed; reading it frees the connection.
      await res.arrayBuffer().catch(() => undefined);
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (e.cause?.code === FORBIDDEN_CODE) return fail(null, e.cause.message ?? 'Forbidden address.', false);
      const reason =
        e.name === 'TimeoutError'
          ? `No answer within ${TIMEOUT_MS / 1000} s.`
          : `Network error: ${e.cause?.code ?? e.message}`;
      return fail(null, reason, true);
    }
    if (res.status >= 200 && res.status < 300) {
      await this.o.repo.recordAttempt(d.id, {
        status: 'delivered',
        statusCode: res.status,
        error: null,
        url,
      });
      this.outcomes.inc({ outcome: 'delivered' });
      return;
    }
    const retry = res.status === 408 || res.status === 429 || res.status >= 500;
    return fail(res.status, `The endpoint answered HTTP ${res.status}.`, retry);
  }

  async start(): Promise<void> {
    // Blocking BullMQ commands need a connection of their own that never gives up on a command.
    this.connection = new Redis(this.o.redisUrl, { maxRetriesPerRequest: null });
    this.connection.on('error', (err) => this.o.log.warn({ err: err.message }, 'webhooks: redis error'));
    this.worker = new Worker<WebhookJob>(QUEUES.webhooks, (job) => this.attempt(job), {
      connection: this.connection,
      prefix: this.o.prefix,
      concurrency: 8,
    });
    this.worker.on('error', (err) => this.o.log.warn({ err: err.message }, 'webhook worker error'));
    // Deliveries whose job Redis lost are queued again (the job id deduplicates live ones).
    for (const id of await this.o.repo.pending(10_000).catch(() => [])) {
      await this.enqueue(id).catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    await this.worker?.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    await this.connection?.quit().catch(() => this.connection?.disconnect());
  }
}
