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

/** Verified tokens remembered (bounded): a viewer sends the same token with every frame. */
const VERIFIED_CACHE_MAX = 10_000;

export class TokenService {
  private readonly key: Uint8Array;
  /**
   * token → claims and expiry (ms) of tokens whose signature verified. Only the HMAC is skipped
   * on a hit: identical bytes verify identically, expiry is re-checked on every use, and the
   * session behind the token is still checked by the caller on every request.
   */
  private readonly verified = new Map<string, { claims: TokenClaims; expMs: number }>();
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
    const hit = this.verified.get(token);
    if (hit) {
      if (hit.expMs > Date.now()) return hit.claims;
      this.verified.delete(token);
    }
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['sub', 'sid', 'exp'],
      });
      if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') return null;
      const claims = { sub: payload.sub, sid: payload.sid };
      if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.clear();
      this.verified.set(token, { claims, expMs: (payload.exp as number) * 1000 });
      return claims;
    } catch {
      return null;
    }
  }
}
