/**
 * TOTP second factor (RFC 6238, 30 s steps, 6 digits, SHA-1 for authenticator-app compatibility),
 * delegated to otplib. A code is accepted within one step either side, to allow for clock skew.
 */
import { generate, generateSecret, generateURI, verify } from 'otplib';

export function newTotpSecret(): string {
  return generateSecret();
}

export function totpUri(secret: string, username: string): string {
  return generateURI({ secret, label: username, issuer: 'RadLink' });
}

export async function totpNow(secret: string): Promise<string> {
  return generate({ secret });
}

export async function checkTotp(secret: string, code: string): Promise<boolean> {
  if (!/^\d{6}$/.test(code)) return false;
  const result = await verify({ secret, token: code, epochTolerance: 30 });
  return result.valid;
}
