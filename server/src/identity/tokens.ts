/**
 * Short-lived bearer tokens: JWS (HS256) carrying the session id. A token is only a pointer to
 * a server-side session: every request re-checks the session (revoked? expired?) and the user
 * (disabled? role changed?), so logout, revocation and disabling take effect at once even
 * though the token itself has not expired. Only HS256 is accepted: `alg: none` and algorithm
 * confusion are refused by jose's algorithm allow-list.
 */
import { jwtVerify, SignJWT } from 'jose';

const ISSUER = 'radlink';
const AUDIENCE = 'radlink-api';

export interface TokenClaims {
  /** user id */
  sub: string;
  /** session id */
  sid: string;
}

export class TokenService {
  private readonly key: Uint8Array;
  constructor(
    secret: string,
    private readonly ttlSeconds: number,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async issue(claims: TokenClaims): Promise<{ token: string; expiresIn: number }> {
    const token = await new SignJWT({ sid: claims.sid })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.key);
    return { token, expiresIn: this.ttlSeconds };
  }

  /** Returns the claims, or null for any invalid token (bad signature, expired, wrong alg, malformed). */
  async verify(token: string): Promise<TokenClaims | null> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['sub', 'sid', 'exp'],
      });
      if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') return null;
      return { sub: payload.sub, sid: payload.sid };
    } catch {
      return null;
    }
  }
}
