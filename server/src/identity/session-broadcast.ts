/**
 * Revocations reach every gateway at once. Each gateway remembers valid sessions for a moment
 * (SESSION_CACHE_MS, sessions.ts: frames arrive by the hundred); a logout, a revoked session, a
 * disabled user or a changed role or facility is forgotten at once by the process that made the
 * change, and published here, so every other gateway sharing the Redis forgets it too, instead of
 * honouring it until its memory lapses.
 *
 * Invariants:
 *  - Advisory only: published after the database change, and a lost message (Redis down, a
 *    gateway reconnecting) leaves the time bound of SESSION_CACHE_MS — never a longer one.
 *  - A message only ever makes a gateway forget (re-read the database), so a forged or repeated
 *    one can cost a lookup, never grant anything. Malformed messages are ignored.
 *  - Never throws into a request: Redis trouble is logged once per outage.
 *  - One session memory per process (the app's SessionRepo, which the event stream shares), so
 *    one forgetter receives what arrives.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';

/** What to forget: one session, or every session of a user. */
export type ForgetMessage = { session: string } | { user: string };

export interface Forgetter {
  /** Forget what this process remembers, without publishing again. */
  forgetLocally(m: ForgetMessage): void;
}

const ID = /^[0-9a-f-]{36}$/;

function parse(raw: string): ForgetMessage | null {
  try {
    const m = JSON.parse(raw) as Record<string, unknown>;
    if (typeof m.session === 'string' && ID.test(m.session)) return { session: m.session };
    if (typeof m.user === 'string' && ID.test(m.user)) return { user: m.user };
  } catch {
    /* not JSON */
  }
  return null;
}

export class SessionBroadcast {
  private readonly channel: string;
  private sub: Redis | null = null;
  private failing = false;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly log: FastifyBaseLogger,
  ) {
    this.channel = `${prefix}:sessions:forget`;
  }

  /**
   * Subscribes on a connection of its own (a subscribed Redis connection takes no other
   * commands). Not awaited by start-up: a gateway starts while Redis is away, and ioredis
   * subscribes again on every reconnection.
   */
  start(forgetter: Forgetter): void {
    const sub = this.redis.duplicate();
    this.sub = sub;
    sub.on('error', () => {});
    sub.on('message', (channel: string, raw: string) => {
      if (channel !== this.channel) return;
      const m = parse(raw);
      if (m) forgetter.forgetLocally(m);
    });
    sub.subscribe(this.channel).catch((err: Error) => {
      this.log.warn(
        { err: err.message },
        'session revocations: not subscribed; other gateways are seen within the cache bound',
      );
    });
  }

  publish(m: ForgetMessage): void {
    this.redis.publish(this.channel, JSON.stringify(m)).then(
      () => {
        this.failing = false;
      },
      (err: Error) => {
        if (!this.failing)
          this.log.warn({ err: err.message }, 'session revocation not published to other gateways');
        this.failing = true;
      },
    );
  }

  close(): void {
    const sub = this.sub;
    this.sub = null;
    // disconnect, not quit: quit waits for a connection that may never come back.
    sub?.disconnect();
  }
}
