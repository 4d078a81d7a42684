/**
 * Login, logout, token refresh, sessions, password change and the TOTP second factor.
 * Login answers the same "unknown user or wrong password" for both cases, after the same KDF
 * work, and asks for the TOTP code only after the password was right.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { AppError } from '../plugins/errors.js';
import { SESSION_COOKIE } from '../policy/guard.js';
import { dummyPasswordHash, hashPassword, needsRehash, verifyPassword } from './passwords.js';
import { LoginBody, Ok, Password, TokenResponse, User, Uuid } from './schemas.js';
import type { SessionRepo } from './sessions.js';
import type { TokenService } from './tokens.js';
import { checkTotp, newTotpSecret, totpUri } from './totp.js';
import type { UserRepo, UserRow } from './users.js';

export interface AuthRouteOptions {
  users: UserRepo;
  sessions: SessionRepo;
  tokens: TokenService;
  sessionTtlSeconds: number;
  cookieSecure: boolean;
  loginRateLimit: number;
}

const publicUser = (u: UserRow) => ({
  id: u.id,
  username: u.username,
  displayName: u.displayName,
  role: u.role,
  facilityId: u.facilityId,
  totpEnabled: u.totpEnabled,
  disabled: u.disabled,
});

export default async function authRoutes(app: FastifyInstance, opts: AuthRouteOptions) {
  const { users, sessions, tokens } = opts;

  const setCookie = (reply: FastifyReply, value: string) =>
    reply.setCookie(SESSION_COOKIE, value, {
      httpOnly: true,
      sameSite: 'strict',
      secure: opts.cookieSecure,
      path: '/',
      maxAge: opts.sessionTtlSeconds * 7,
    });

  app.post(
    '/api/auth/login',
    {
      config: {
        rateLimit: {
          max: opts.loginRateLimit,
          timeWindow: '1 minute',
          // After body parsing, so the key can include the user name: one client cannot lock
          // everybody out, and one account cannot be brute-forced from one address.
          hook: 'preHandler',
          keyGenerator: (req) => {
            const name = (req.body as { username?: unknown } | undefined)?.username;
            return `login|${req.ip}|${typeof name === 'string' ? name.toLowerCase() : ''}`;
          },
        },
      },
      schema: {
        tags: ['auth'],
        summary: 'Log in with user name and password (and TOTP code when enabled).',
        body: LoginBody,
        response: { 200: TokenResponse },
      },
    },
    async (request, reply) => {
      const { username, password, totp } = request.body as {
        username: string;
        password: string;
        totp?: string;
      };
      const user = await users.forLogin(username);
      const passwordOk = await verifyPassword(password, user?.passwordHash ?? (await dummyPasswordHash()));
      const refuse = async (
        code:
          | 'RADLINK_BAD_CREDENTIALS'
          | 'RADLINK_TOTP_REQUIRED'
          | 'RADLINK_TOTP_INVALID'
          | 'RADLINK_USER_DISABLED',
        reason: string,
      ) => {
        app.metrics.loginFailures.inc({ reason });
        await app.audit.write({
          action: 'auth.login',
          outcome: 'denied',
          userId: user?.id,
          username: username.slice(0, 64),
          facilityId: user?.facilityId,
          clientIp: request.ip,
          statusCode: 401,
          detail: { reason },
        });
        throw new AppError(code);
      };
      if (!user || !passwordOk) return refuse('RADLINK_BAD_CREDENTIALS', 'bad-credentials');
      if (user.disabled) return refuse('RADLINK_USER_DISABLED', 'disabled');
      if (user.totpEnabled) {
        if (!totp) return refuse('RADLINK_TOTP_REQUIRED', 'totp-required');
        if (!user.totpSecret || !(await checkTotp(user.totpSecret, totp)))
          return refuse('RADLINK_TOTP_INVALID', 'totp-invalid');
      }
      if (needsRehash(user.passwordHash)) await users.setPassword(user.id, await hashPassword(password));

      const session = await sessions.create(user.id, request.ip, request.headers['user-agent']);
      const issued = await tokens.issue({ sub: user.id, sid: session.id });
      setCookie(reply, session.cookie);
      await app.audit.write({
        action: 'auth.login',
        outcome: 'success',
        userId: user.id,
        username: user.username,
        role: user.role,
        facilityId: user.facilityId,
        clientIp: request.ip,
        statusCode: 200,
      });
      return { ...issued, user: publicUser(user) };
    },
  );

  app.post(
    '/api/auth/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'End the current session (token and cookie).',
        response: { 200: Ok },
      },
    },
    async (request, reply) => {
      await sessions.revoke(request.principal!.sessionId);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return { ok: true as const };
    },
  );

  app.post(
    '/api/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'A fresh bearer token for the current session (browser: with the session cookie).',
        response: { 200: TokenResponse },
      },
    },
    async (request) => {
      const p = request.principal!;
      const user = await users.byId(p.userId);
      if (!user) throw new AppError('RADLINK_SESSION_REVOKED');
      return { ...(await tokens.issue({ sub: p.userId, sid: p.sessionId })), user: publicUser(user) };
    },
  );

  app.get(
    '/api/auth/me',
    { schema: { tags: ['auth'], summary: 'The logged-in user.', response: { 200: User } } },
    async (request) => {
      const user = await users.byId(request.principal!.userId);
      if (!user) throw new AppError('RADLINK_SESSION_REVOKED');
      return publicUser(user);
    },
  );

  const SessionInfo = Type.Object({
    id: Type.String(),
    createdAt: Type.String(),
    lastSeenAt: Type.String(),
    clientIp: Type.Union([Type.String(), Type.Null()]),
    userAgent: Type.Union([Type.String(), Type.Null()]),
    current: Type.Boolean(),
  });

  app.get(
    '/api/auth/sessions',
    {
      schema: { tags: ['auth'], summary: 'My active sessions.', response: { 200: Type.Array(SessionInfo) } },
    },
    async (request) => {
      const p = request.principal!;
      const rows = await sessions.listForUser(p.userId);
      return rows.map((s) => ({
        ...s,
        createdAt: new Date(s.createdAt).toISOString(),
        lastSeenAt: new Date(s.lastSeenAt).toISOString(),
        current: s.id === p.sessionId,
      }));
    },
  );

  app.delete(
    '/api/auth/sessions/:sessionId',
    {
      schema: {
        tags: ['auth'],
        summary: 'Revoke one of my sessions (e.g. a lost phone).',
        params: Type.Object({ sessionId: Uuid }),
        response: { 200: Ok },
      },
    },
    async (request) => {
      const { sessionId } = request.params as { sessionId: string };
      const s = await sessions.byId(sessionId);
      if (!s || s.userId !== request.principal!.userId)
        throw new AppError('RADLINK_NOT_FOUND', 'No such session.');
      await sessions.revoke(sessionId);
      return { ok: true as const };
    },
  );

  app.post(
    '/api/auth/password',
    {
      schema: {
        tags: ['auth'],
        summary: 'Change my password; ends my other sessions.',
        body: Type.Object(
          { currentPassword: Type.String({ maxLength: 256 }), newPassword: Password },
          { additionalProperties: false },
        ),
        response: { 200: Ok },
      },
    },
    async (request) => {
      const p = request.principal!;
      const { currentPassword, newPassword } = request.body as {
        currentPassword: string;
        newPassword: string;
      };
      const user = await users.authById(p.userId);
      if (!user || !(await verifyPassword(currentPassword, user.passwordHash))) {
        throw new AppError('RADLINK_BAD_CREDENTIALS', 'The current password is wrong.');
      }
      await users.setPassword(p.userId, await hashPassword(newPassword));
      for (const s of await sessions.listForUser(p.userId))
        if (s.id !== p.sessionId) await sessions.revoke(s.id);
      return { ok: true as const };
    },
  );

  app.post(
    '/api/auth/totp/setup',
    {
      schema: {
        tags: ['auth'],
        summary: 'Start TOTP enrolment: a new secret, confirmed by /totp/enable with a code.',
        response: { 200: Type.Object({ secret: Type.String(), otpauthUri: Type.String() }) },
      },
    },
    async (request) => {
      const user = await users.authById(request.principal!.userId);
      if (!user) throw new AppError('RADLINK_SESSION_REVOKED');
      if (user.totpEnabled)
        throw new AppError('RADLINK_CONFLICT', 'TOTP is already enabled; disable it first.');
      const secret = newTotpSecret();
      await users.setTotp(user.id, secret, false);
      return { secret, otpauthUri: totpUri(secret, user.username) };
    },
  );

  app.post(
    '/api/auth/totp/enable',
    {
      schema: {
        tags: ['auth'],
        summary: 'Confirm TOTP enrolment with a current code.',
        body: Type.Object({ code: Type.String({ pattern: '^[0-9]{6}$' }) }, { additionalProperties: false }),
        response: { 200: Ok },
      },
    },
    async (request) => {
      const user = await users.authById(request.principal!.userId);
      if (!user?.totpSecret) throw new AppError('RADLINK_CONFLICT', 'Call /api/auth/totp/setup first.');
      if (!(await checkTotp(user.totpSecret, (request.body as { code: string }).code)))
        throw new AppError('RADLINK_TOTP_INVALID');
      await users.setTotp(user.id, user.totpSecret, true);
      return { ok: true as const };
    },
  );

  app.post(
    '/api/auth/totp/disable',
    {
      schema: {
        tags: ['auth'],
        summary: 'Turn TOTP off (needs the password and a current code).',
        body: Type.Object(
          { password: Type.String({ maxLength: 256 }), code: Type.String({ pattern: '^[0-9]{6}$' }) },
          { additionalProperties: false },
        ),
        response: { 200: Ok },
      },
    },
    async (request) => {
      const { password, code } = request.body as { password: string; code: string };
      const user = await users.authById(request.principal!.userId);
      if (!user || !(await verifyPassword(password, user.passwordHash)))
        throw new AppError('RADLINK_BAD_CREDENTIALS');
      if (!user.totpEnabled || !user.totpSecret)
        throw new AppError('RADLINK_CONFLICT', 'TOTP is not enabled.');
      if (!(await checkTotp(user.totpSecret, code))) throw new AppError('RADLINK_TOTP_INVALID');
      await users.setTotp(user.id, null, false);
      return { ok: true as const };
    },
  );
}
