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

  async listDeliveries(
    facilityId: string,
    status: string | null,
    limit: number,
    offset: number,
  ): Promise<DeliveryRow[]> {
    const rows = await this.db.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLS} FROM webhook_deliveries
        WHERE facility_id = $1 AND ($2::text IS NULL OR status = $2)
        ORDER BY created_at DESC, id LIMIT $3 OFFSET $4`,
      [facilityId, status, limit, offset],
    );
    return rows.map(toDelivery);
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
