/** Login (password, then the TOTP code when the account has it), the current user, logout. */
import { json } from './http.js';
import type { User } from './types.js';

export interface LoginInput {
  username: string;
  password: string;
  totp?: string;
}

export async function login(input: LoginInput): Promise<User> {
  const res = await json<{ user: User }>('POST', '/api/auth/login', { body: input });
  return res.user;
}

export const me = () => json<User>('GET', '/api/auth/me');

export async function logout(): Promise<void> {
  await json('POST', '/api/auth/logout');
}
