import { SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { hashPassword, needsRehash, verifyPassword } from '../../server/src/identity/passwords.js';
import { TokenService } from '../../server/src/identity/tokens.js';
import { checkTotp, newTotpSecret, totpNow } from '../../server/src/identity/totp.js';

const SECRET = 's'.repeat(48);

describe('password hashing (scrypt)', () => {
  it('verifies the right password and refuses others, with per-hash salt', async () => {
    const h1 = await hashPassword('Mật khẩu đúng 123');
    const h2 = await hashPassword('Mật khẩu đúng 123');
    expect(h1).not.toBe(h2);
    expect(h1).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(await verifyPassword('Mật khẩu đúng 123', h1)).toBe(true);
    // NFD input of the same Vietnamese password is the same password.
    expect(await verifyPassword('Mật khẩu đúng 123'.normalize('NFD'), h1)).toBe(true);
    expect(await verifyPassword('mật khẩu đúng 123', h1)).toBe(false);
    expect(await verifyPassword('', h1)).toBe(false);
    expect(await verifyPassword('x', 'not-a-hash')).toBe(false);
  });

  it('asks for a rehash when parameters are weaker than the current ones', async () => {
    const weak = await hashPassword('abcdefghijk', { N: 1024, r: 8, p: 1 });
    expect(needsRehash(weak)).toBe(true);
    expect(needsRehash(await hashPassword('abcdefghijk'))).toBe(false);
  });
});

describe('bearer tokens', () => {
  const svc = new TokenService(SECRET, 60);

  it('round-trips claims', async () => {
    const { token } = await svc.issue({ sub: 'u1', sid: 's1' });
    expect(await svc.verify(token)).toEqual({ sub: 'u1', sid: 's1' });
  });

  it.each([
    [
      'a forged signature',
      // Flip a signature character whose 6 bits all count: the last base64url character of a
      // 32-byte HMAC carries 2 padding bits, so changing only those can decode to the same bytes.
      async () => {
        const [h, p, sig] = (await svc.issue({ sub: 'u', sid: 's' })).token.split('.') as [
          string,
          string,
          string,
        ];
        return `${h}.${p}.${sig[0] === 'A' ? 'Q' : 'A'}${sig.slice(1)}`;
      },
    ],
    [
      'another key',
      async () => (await new TokenService('k'.repeat(48), 60).issue({ sub: 'u', sid: 's' })).token,
    ],
    [
      'alg none',
      async () =>
        new UnsecuredJWT({ sid: 's' })
          .setSubject('u')
          .setIssuer('radlink')
          .setAudience('radlink-api')
          .setExpirationTime('1h')
          .encode(),
    ],
    [
      'an expired token',
      async () =>
        new SignJWT({ sid: 's' })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('u')
          .setIssuer('radlink')
          .setAudience('radlink-api')
          .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
          .sign(new TextEncoder().encode(SECRET)),
    ],
    [
      'HS512 with the right key (algorithm not allowed)',
      async () =>
        new SignJWT({ sid: 's' })
          .setProtectedHeader({ alg: 'HS512' })
          .setSubject('u')
          .setIssuer('radlink')
          .setAudience('radlink-api')
          .setExpirationTime('1h')
          .sign(new TextEncoder().encode(SECRET)),
    ],
    ['garbage', async () => 'not.a.token'],
  ])('refuses %s', async (_name, make) => {
    expect(await svc.verify(await make())).toBeNull();
  });
});

describe('TOTP', () => {
  it('accepts the current code and refuses a wrong or malformed one', async () => {
    const secret = newTotpSecret();
    const code = await totpNow(secret);
    expect(await checkTotp(secret, code)).toBe(true);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    expect(await checkTotp(secret, wrong)).toBe(false);
    expect(await checkTotp(secret, '12345')).toBe(false);
    expect(await checkTotp(newTotpSecret(), code)).toBe(false);
  });
});
