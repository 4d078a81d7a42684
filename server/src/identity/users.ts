/** Users: the repository. Who may change whom is decided in user-routes.ts, not here. */
import type { Role } from '../../../contracts/roles.js';
import type { Queryable } from '../db/client.js';

export interface UserRow {
  id: string;
  username: string;
  displayName: string;
  role: Role;
  facilityId: string | null;
  totpEnabled: boolean;
  disabled: boolean;
  createdAt: string;
}

export interface UserAuthRow extends UserRow {
  passwordHash: string;
  totpSecret: string | null;
}

const COLS = `id, username, display_name AS "displayName", role, facility_id AS "facilityId",
  totp_enabled AS "totpEnabled", disabled_at IS NOT NULL AS disabled, created_at AS "createdAt"`;

export class UserRepo {
  constructor(private readonly db: Queryable) {}

  async count(): Promise<number> {
    const [row] = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
    return row?.n ?? 0;
  }

  async forLogin(username: string): Promise<UserAuthRow | null> {
    const rows = await this.db.query<UserAuthRow>(
      `SELECT ${COLS}, password_hash AS "passwordHash", totp_secret AS "totpSecret" FROM users WHERE lower(username) = lower($1)`,
      [username],
    );
    return rows[0] ?? null;
  }

  async byId(id: string): Promise<UserRow | null> {
    if (!/^[0-9a-f-]{36}$/.test(id)) return null;
    const rows = await this.db.query<UserRow>(`SELECT ${COLS} FROM users WHERE id = $1`, [id]);
    return rows[0] ?? null;
  }

  async authById(id: string): Promise<UserAuthRow | null> {
    const rows = await this.db.query<UserAuthRow>(
      `SELECT ${COLS}, password_hash AS "passwordHash", totp_secret AS "totpSecret" FROM users WHERE id = $1`,
      [id],
    );
    return rows[0] ?? null;
  }

  async list(facilityId?: string): Promise<UserRow[]> {
    return facilityId
      ? this.db.query<UserRow>(`SELECT ${COLS} FROM users WHERE facility_id = $1 ORDER BY username`, [
          facilityId,
        ])
      : this.db.query<UserRow>(`SELECT ${COLS} FROM users ORDER BY username`);
  }

  async create(u: {
    username: string;
    displayName: string;
    role: Role;
    facilityId: string | null;
    passwordHash: string;
  }): Promise<UserRow> {
    const rows = await this.db.query<UserRow>(
      `INSERT INTO users (username, display_name, role, facility_id, password_hash)
       VALUES (lower($1), $2, $3, $4, $5) RETURNING ${COLS}`,
      [u.username, u.displayName.normalize('NFC'), u.role, u.facilityId, u.passwordHash],
    );
    return rows[0]!;
  }

  async update(
    id: string,
    patch: { displayName?: string; role?: Role; facilityId?: string | null; disabled?: boolean },
  ): Promise<UserRow | null> {
    const rows = await this.db.query<UserRow>(
      `UPDATE users SET
         display_name = COALESCE($2, display_name),
         role = COALESCE($3, role),
         facility_id = CASE WHEN $4::boolean THEN $5 ELSE facility_id END,
         disabled_at = CASE WHEN $6::boolean IS NULL THEN disabled_at
                            WHEN $6::boolean THEN COALESCE(disabled_at, now()) ELSE NULL END,
         updated_at = now()
       WHERE id = $1 RETURNING ${COLS}`,
      [
        id,
        patch.displayName?.normalize('NFC') ?? null,
        patch.role ?? null,
        patch.facilityId !== undefined,
        patch.facilityId ?? null,
        patch.disabled ?? null,
      ],
    );
    return rows[0] ?? null;
  }

  async setPassword(id: string, passwordHash: string): Promise<void> {
    await this.db.query('UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1', [
      id,
      passwordHash,
    ]);
  }

  async setTotp(id: string, secret: string | null, enabled: boolean): Promise<void> {
    await this.db.query(
      'UPDATE users SET totp_secret = $2, totp_enabled = $3, updated_at = now() WHERE id = $1',
      [id, secret, enabled],
    );
  }
}
