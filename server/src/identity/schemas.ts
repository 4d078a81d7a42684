/** Request/response schemas of the identity API (also the OpenAPI documentation). */
import { Type } from '@sinclair/typebox';
import { FACILITY_TIERS, ROLES } from '../../../contracts/roles.js';
import { PASSWORD_RULES } from './passwords.js';

export const RoleSchema = Type.Union(
  ROLES.map((r) => Type.Literal(r)),
  { description: 'User role' },
);
export const TierSchema = Type.Union(FACILITY_TIERS.map((t) => Type.Literal(t)));
export const Username = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{1,62}$',
  description: 'Login name',
});
export const Password = Type.String({
  minLength: PASSWORD_RULES.minLength,
  maxLength: PASSWORD_RULES.maxLength,
});
export const Uuid = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
});
export const FacilityId = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{1,62}$' });

export const User = Type.Object({
  id: Type.String(),
  username: Type.String(),
  displayName: Type.String(),
  role: RoleSchema,
  facilityId: Type.Union([Type.String(), Type.Null()]),
  totpEnabled: Type.Boolean(),
  disabled: Type.Boolean(),
});

export const LoginBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 64 }),
    password: Type.String({ minLength: 1, maxLength: PASSWORD_RULES.maxLength }),
    totp: Type.Optional(
      Type.String({ pattern: '^[0-9]{6}$', description: 'Current TOTP code, when enabled' }),
    ),
  },
  { additionalProperties: false },
);

export const TokenResponse = Type.Object({
  token: Type.String({ description: 'Bearer token for the Authorization header' }),
  expiresIn: Type.Integer({
    description: 'Seconds until the token expires; refresh with the session cookie',
  }),
  user: User,
});

export const Ok = Type.Object({ ok: Type.Literal(true) });
