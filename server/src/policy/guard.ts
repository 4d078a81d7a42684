/**
 * Enforces the access policy on every request, in one place:
 *  - at registration, a route without a policy entry throws, so the app refuses to start;
 *  - per request, the caller is authenticated (bearer token, else session cookie) and the
 *    rule's roles are checked before any handler runs.
 * Handlers never re-implement authentication; they read `request.principal`.
 *
 * Patient share links (server/src/share) authenticate here too, with their own session
 * (cookie `radlink_share` or a bearer prefixed `rls_`), as role `patient`: such a caller reaches
 * only the routes whose rule names that role; every other route answers 404 to it, as if it did
 * not exist (a link holder learns nothing of the staff API).
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { SHARE_ROLE } from '../../../contracts/roles.js';
import type { Principal } from '../identity/principal.js';
import type { SessionRepo, SessionUser } from '../identity/sessions.js';
import type { TokenService } from '../identity/tokens.js';
import { AppError } from '../plugins/errors.js';
import type { AccessRule } from './rules.js';
import { lookupRule } from './table.js';

export const SESSION_COOKIE = 'radlink_session';
export const SHARE_COOKIE = 'radlink_share';
/** Share-session bearer tokens carry this prefix; user tokens are JWTs (which start with "eyJ"). */
export const SHARE_BEARER_PREFIX = 'rls_';

/** Resolves a share-session credential to its principal, or throws a coded AppError (ended, revoked...). */
export interface ShareAuthenticator {
  principal(credential: string, via: Principal['via']): Promise<Principal>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: AccessRule;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyInstance {
    /** Every route registered, with its policy rule: enumerated by the policy test. */
    registeredRoutes: { method: string; url: string; rule: AccessRule }[];
  }
}

export interface GuardOptions {
  tokens: TokenService;
  sessions: SessionRepo;
  metricsToken?: string | undefined;
  shares?: ShareAuthenticator;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const WWW_AUTH = { 'www-authenticate': 'Bearer realm="radlink"' };

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function principalFrom(s: SessionUser, via: Principal['via']): Principal {
  if (s.disabled) throw new AppError('RADLINK_USER_DISABLED', undefined, WWW_AUTH);
  if (s.revoked || s.expired) throw new AppError('RADLINK_SESSION_REVOKED', undefined, WWW_AUTH);
  return {
    kind: 'user',
    userId: s.userId,
    username: s.username,
    role: s.role,
    facilityId: s.facilityId,
    sessionId: s.sessionId,
    via,
  };
}

export async function authenticate(request: FastifyRequest, opts: GuardOptions): Promise<Principal | null> {
  const auth = request.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer ([A-Za-z0-9_.~+/=-]+)$/.exec(auth);
    if (!m)
      throw new AppError(
        'RADLINK_TOKEN_INVALID',
        'The Authorization header must be "Bearer <token>".',
        WWW_AUTH,
      );
    if (opts.shares && m[1]!.startsWith(SHARE_BEARER_PREFIX))
      return opts.shares.principal(m[1]!.slice(SHARE_BEARER_PREFIX.length), 'bearer');
    const claims = await opts.tokens.verify(m[1]!);
    if (!claims) throw new AppError('RADLINK_TOKEN_INVALID', undefined, WWW_AUTH);
    const s = await opts.sessions.byId(claims.sid);
    if (!s || s.userId !== claims.sub) throw new AppError('RADLINK_TOKEN_INVALID', undefined, WWW_AUTH);
    return principalFrom(s, 'bearer');
  }
  // One browser may hold a staff session and a share session (staff checking a printed link):
  // routes only a share holder reaches use the share session, every other route the staff one.
  const shareCookie = opts.shares ? request.cookies?.[SHARE_COOKIE] : undefined;
  const roles = request.routeOptions.config?.access?.roles;
  const shareOnly = Array.isArray(roles) && roles.length > 0 && roles.every((r) => r === SHARE_ROLE);
  if (shareCookie && shareOnly) return opts.shares!.principal(shareCookie, 'cookie');
  const cookie = request.cookies?.[SESSION_COOKIE];
  if (cookie) {
    const s = await opts.sessions.byCookie(cookie);
    if (!s) throw new AppError('RADLINK_SESSION_REVOKED', undefined, WWW_AUTH);
    return principalFrom(s, 'cookie');
  }
  if (shareCookie) return opts.shares!.principal(shareCookie, 'cookie');
  return null;
}

export default fp(
  async (app: FastifyInstance, opts: GuardOptions) => {
    app.decorateRequest('principal', null);
    const registered: { method: string; url: string; rule: AccessRule }[] = [];
    app.decorate('registeredRoutes', registered);

    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      let rule: AccessRule | undefined;
      for (const method of methods) {
        rule = lookupRule(method, route.url);
        if (!rule) {
          throw new Error(
            `${method} ${route.url} has no entry in the access policy (server/src/policy/table.ts)`,
          );
        }
        registered.push({ method, url: route.url, rule });
      }
      route.config = { ...(route.config ?? {}), access: rule };
    });

    app.addHook('onRequest', async (request) => {
      const rule = request.routeOptions.config?.access;
      // No rule means no route matched: the not-found handler answers 404.
      if (!rule || rule.anonymous) return;

      if (rule.metricsToken && opts.metricsToken) {
        const auth = request.headers.authorization ?? '';
        if (auth.startsWith('Bearer ') && sameSecret(auth.slice(7), opts.metricsToken)) return;
      }

      const principal = await authenticate(request, opts);
      if (!principal) throw new AppError('RADLINK_UNAUTHENTICATED', undefined, WWW_AUTH);
      request.principal = principal;

      if (principal.via === 'cookie' && UNSAFE.has(request.method)) {
        // Cookies are SameSite=Strict; this also refuses a cross-site form or fetch that slipped through.
        const origin = request.headers.origin;
        if (origin !== undefined && !sameOrigin(origin, request.headers.host)) {
          throw new AppError('RADLINK_FORBIDDEN', 'Cross-origin request refused.');
        }
      }
      if (principal.kind === 'share') {
        if (!Array.isArray(rule.roles) || !rule.roles.includes(SHARE_ROLE))
          throw new AppError('RADLINK_ROUTE_NOT_FOUND');
        return;
      }
      if (rule.roles !== 'any-user' && !rule.roles?.includes(principal.role)) {
        throw new AppError('RADLINK_FORBIDDEN');
      }
      void opts.sessions
        .touch(principal.sessionId)
        .catch((err) => request.log.warn({ err }, 'session touch failed'));
    });
  },
  { name: 'radlink-guard', dependencies: ['@fastify/cookie'] },
);

/** Compares Origin with Host the way browsers build Origin: default ports (80/443) are dropped. */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  try {
    const o = new URL(origin);
    return o.host === new URL(`${o.protocol}//${host}`).host;
  } catch {
    return false;
  }
}
