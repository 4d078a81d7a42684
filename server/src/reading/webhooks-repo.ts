/**
 * Per-facility webhooks and their delivery log: the SQL, and the secret's encryption. The
 * secret must be recoverable (it keys every HMAC), so it is stored AES-256-GCM-encrypted under a
 * key derived (HKDF) from RADLINK_TOKEN_SECRET: a database dump alone does not reveal it. It is
 * never returned by the API; only its last four characters, to tell two secrets apart.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Queryable } from '../db/client.js';

interface Sealed {
  iv: string;
  tag: string;
  ct: string;
  hint: string;
}

export class SecretBox {
  private readonly key: Buffer;
  constructor(tokenSecret: string) {
    this.key = Buffer.from(hkdfSync('sha256', tokenSecret, 'radlink', 'radlink webhook secrets v1', 32));
  }
  seal(secret: string): Sealed {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const ct = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
    return {
      iv: iv.toString('base64url'),
      tag: c.getAuthTag().toString('base64url'),
      ct: ct.toString('base64url'),
      hint: secret.slice(-4),
    };
  }
  open(s: Sealed): string {
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(s.iv, 'base64url'));
    d.setAuthTag(Buffer.from(s.tag, 'base64url'));
    return Buffer.concat([d.update(Buffer.from(s.ct, 'base64url')), d.final()]).toString('utf8');
  }
}

export interface WebhookConfig {
  facilityId: string;
  url: string;
  enabled: boolean;
  eventTypes: string[] | null;
  secretHint: string;
  createdAt: string;
  updatedAt: string;
}

export interface DeliveryRow {
  id: string;
  facilityId: string;
  eventId: string;
  eventType: string;
  url: string;
  payload: Record<string, unknown>;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
  deliveredAt: string | null;
}

const iso = (d: unknown) => (d ? new Date(d as string).toISOString() : null);

const HOOK_COLS = `facility_id AS "facilityId", url, enabled, event_types AS "eventTypes",
  encrypted_secret AS sealed, created_at AS "createdAt", updated_at AS "updatedAt"`;
const DELIVERY_COLS = `id, facility_id AS "facilityId", event_id::text AS "eventId", event_type AS "eventType", url,
  payload, status, attempts, last_status_code AS "lastStatusCode", last_error AS "lastError",
  created_at AS "createdAt", updated_at AS "updatedAt", delivered_at AS "deliveredAt"`;

type HookRow = Omit<WebhookConfig, 'secretHint'> & { sealed: Sealed };

/**
 * Where a page of the delivery log ends: the last entry's creation time at PostgreSQL's full
 * (microsecond) precision, which a JavaScript Date would round, and its id.
 */
export interface DeliveryCursor {
  createdAt: string;
  id: string;
}
const CREATED_KEY = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const CURSOR_RE =
  /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z) ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** The opaque `before` of the delivery log API. */
export function encodeCursor(c: DeliveryCursor): string {
  return Buffer.from(`${c.createdAt} ${c.id}`, 'utf8').toString('base64url');
}

/** null when `s` is not a cursor this API issued. */
export function decodeCursor(s: string): DeliveryCursor | null {
  const m = CURSOR_RE.exec(Buffer.from(s, 'base64url').toString('utf8'));
  if (!m) return null;
  // Only real instants reach PostgreSQL (JavaScript would take Feb 30 as Mar 2; PostgreSQL
  // refuses it, which would be a 500).
  const t = Date.parse(m[1]!);
  if (!(t >= 0) || new Date(t).toISOString().slice(0, 19) !== m[1]!.slice(0, 19)) return null;
  return { createdAt: m[1]!, id: m[2]! };
}

const toConfig = (r: HookRow): WebhookConfig => ({
  facilityId: r.facilityId,
  url: r.url,
  enabled: r.enabled,
  eventTypes: r.eventTypes,
  secretHint: r.sealed.hint,
  createdAt: iso(r.createdAt)!,
  updatedAt: iso(r.updatedAt)!,
});
const toDelivery = (r: DeliveryRow): DeliveryRow => ({
  ...r,
  createdAt: iso(r.createdAt)!,
  updatedAt: iso(r.updatedAt)!,
  deliveredAt: iso(r.deliveredAt),
});

export class WebhookRepo {
  constructor(
    private readonly db: Queryable,
    private readonly box: SecretBox,
  ) {}

  async get(facilityId: string): Promise<WebhookConfig | null> {
    const [r] = await this.db.query<HookRow>(
      `SELECT ${HOOK_COLS} FROM facility_webhooks WHERE facility_id = $1`,
      [facilityId],
    );
    return r ? toConfig(r) : null;
  }

  /** The config with its clear secret, for signing a delivery. */
  async forDelivery(facilityId: string): Promise<(WebhookConfig & { secret: string }) | null> {
    const [r] = await this.db.query<HookRow>(
      `SELECT ${HOOK_COLS} FROM facility_webhooks WHERE facility_id = $1`,
      [facilityId],
    );
    return r ? { ...toConfig(r), secret: this.box.open(r.sealed) } : null;
  }

  /** Creates or replaces; a null secret keeps the stored one (false when there is none to keep). */
  async put(
    facilityId: string,
    v: { url: string; secret: string | null; enabled: boolean; eventTypes: string[] | null },
  ): Promise<boolean> {
    if (v.secret === null) {
      const rows = await this.db.query(
        `UPDATE facility_webhooks SET url = $2, enabled = $3, event_types = $4::text[], updated_at = now()
          WHERE facility_id = $1 RETURNING facility_id`,
        [facilityId, v.url, v.enabled, v.eventTypes],
      );
      return rows.length === 1;
    }
    await this.db.query(
      `INSERT INTO facility_webhooks (facility_id, url, encrypted_secret, enabled, event_types)
       VALUES ($1, $2, $3::jsonb, $4, $5::text[])
       ON CONFLICT (facility_id) DO UPDATE SET url = EXCLUDED.url, encrypted_secret = EXCLUDED.encrypted_secret,
         enabled = EXCLUDED.enabled, event_types = EXCLUDED.event_types, updated_at = now()`,
      [facilityId, v.url, JSON.stringify(this.box.seal(v.secret)), v.enabled, v.eventTypes],
    );
    return true;
  }

  async remove(facilityId: string): Promise<boolean> {
    const rows = await this.db.query(
      'DELETE FROM facility_webhooks WHERE facility_id = $1 RETURNING facility_id',
      [facilityId],
    );
    return rows.length === 1;
  }

  /** Enabled webhooks among these facilities that take this event type. */
  async subscribed(facilityIds: string[], eventType: string): Promise<{ facilityId: string; url: string }[]> {
    return this.db.query(
      `SELECT facility_id AS "facilityId", url FROM facility_webhooks
        WHERE facility_id = ANY ($1::text[]) AND enabled AND (event_types IS NULL OR $2 = ANY (event_types))`,
      [facilityIds, eventType],
    );
  }

  /** A new delivery; null when this event was already queued for that facility. */
  async createDelivery(d: {
    facilityId: string;
    eventId: string;
    eventType: string;
    url: string;
    payload: object;
  }): Promise<string | null> {
    const [r] = await this.db.query<{ id: string }>(
      `INSERT INTO webhook_deliveries (facility_id, event_id, event_type, url, payload)
       VALUES ($1, $2::bigint, $3, $4, $5::jsonb) ON CONFLICT (facility_id, event_id) DO NOTHING RETURNING id`,
      [d.facilityId, d.eventId, d.eventType, d.url, JSON.stringify(d.payload)],
    );
    return r?.id ?? null;
  }

  async delivery(id: string): Promise<DeliveryRow | null> {
    const [r] = await this.db.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLS} FROM webhook_deliveries WHERE id = $1`,
      [id],
    );
    return r ? toDelivery(r) : null;
  }

  async recordAttempt(
    id: string,
    outcome: {
      status: 'pending' | 'delivered' | 'failed';
      statusCode: number | null;
      error: string | null;
      /** Where this attempt went (the webhook's URL may have been corrected since it was queued). */
      url: string;
    },
  ): Promise<void> {
    await this.db.query(
      `UPDATE webhook_deliveries
          SET attempts = attempts + 1, status = $2, last_status_code = $3, last_error = $4, url = $5, updated_at = now(),
              delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END
        WHERE id = $1 AND status = 'pending'`,
      [id, outcome.status, outcome.statusCode, outcome.error, outcome.url],
    );
  }

  /**
   * A page of a facility's delivery log, newest first, after the entry `before` names (keyset
   * paging: entries written or pruned meanwhile neither repeat nor skip others, unlike offsets).
   */
  async listDeliveries(
    facilityId: string,
    q: { status: string | null; limit: number; before: DeliveryCursor | null },
  ): Promise<{ rows: DeliveryRow[]; next: DeliveryCursor | null }> {
    const rows = await this.db.query<DeliveryRow & { createdKey: string }>(
      `SELECT ${DELIVERY_COLS}, ${CREATED_KEY} AS "createdKey" FROM webhook_deliveries
        WHERE facility_id = $1 AND ($2::text IS NULL OR status = $2)
          AND ($4::timestamptz IS NULL OR (created_at <= $4::timestamptz AND (created_at < $4::timestamptz OR id < $5::uuid)))
        ORDER BY created_at DESC, id DESC LIMIT $3`,
      [facilityId, q.status, q.limit + 1, q.before?.createdAt ?? null, q.before?.id ?? null],
    );
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      rows: page.map(({ createdKey: _k, ...r }) => toDelivery(r)),
      next: rows.length > q.limit && last ? { createdAt: last.createdKey, id: last.id } : null,
    };
  }

  /**
   * Deletes up to `limit` entries of this finished status last changed more than `days` ago,
   * oldest first, skipping rows another transaction holds; the number deleted. One statement,
   * one short transaction (webhooks-retention.ts). `= ANY (ARRAY(...))`, not `IN (...)`: the
   * planner turned IN into a hash join over a sequential scan of the whole table, per batch.
   */
  async pruneBatch(status: 'delivered' | 'failed', days: number, limit: number): Promise<number> {
    const [r] = await this.db.query<{ n: number }>(
      `WITH gone AS (
         DELETE FROM webhook_deliveries WHERE id = ANY (ARRAY(
           SELECT id FROM webhook_deliveries
            WHERE status = $1 AND updated_at < now() - make_interval(days => $2)
            ORDER BY updated_at LIMIT $3 FOR UPDATE SKIP LOCKED))
         RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      [status, days, limit],
    );
    return r?.n ?? 0;
  }

  /** Deliveries still pending (their timers are re-created at start-up). */
  async pending(limit: number): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      `SELECT id FROM webhook_deliveries WHERE status = 'pending' ORDER BY created_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.id);
  }
}
