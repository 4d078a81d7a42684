/**
 * A new installation needs one way in: when the user table is empty, the user "admin"
 * (system_admin) is created with RADLINK_ADMIN_PASSWORD. Never runs again once any user exists,
 * so the variable cannot be used to reset a password later.
 */
import type { FastifyBaseLogger } from 'fastify';
import { hashPassword } from './passwords.js';
import type { UserRepo } from './users.js';

export async function ensureInitialAdmin(
  users: UserRepo,
  password: string | undefined,
  log: FastifyBaseLogger,
): Promise<void> {
  if ((await users.count()) > 0) return;
  if (!password) {
    log.warn('No users exist and RADLINK_ADMIN_PASSWORD is unset: nobody can log in until it is set.');
    return;
  }
  await users.create({
    username: 'admin',
    displayName: 'Administrator',
    role: 'system_admin',
    facilityId: null,
    passwordHash: await hashPassword(password),
  });
  log.info('Created the initial "admin" user.');
}
