/**
 * A private key wrapped under a PIN: AES-256-GCM with a key derived from the PIN by scrypt.
 * GCM's tag authenticates the ciphertext, so a wrong PIN fails to decrypt (it never yields a
 * wrong key that would then sign garbage): unwrap throws WrongPinError and nothing is signed.
 *
 * The scrypt cost is stored with each wrapped key, so it can be raised later without breaking
 * existing credentials. A short PIN is weak against an offline attack on a stolen database;
 * that is accepted for the demo CA (the gateway also locks a key after repeated wrong PINs),
 * and a real deployment signs through a national CA's HSM or remote-signing adapter instead.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';

export interface WrappedKey {
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: 'aes-256-gcm';
  iv: string;
  tag: string;
  ciphertext: string;
}

export class WrongPinError extends Error {
  constructor() {
    super('wrong PIN');
    this.name = 'WrongPinError';
  }
}

export const PIN_PATTERN = '^[0-9]{6,12}$';
/** 2^15: ~50-100 ms per derivation here, run on libuv's thread pool (not the event loop). */
export const DEFAULT_SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;

function deriveKey(pin: string, salt: Buffer, k: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(pin.normalize('NFC'), salt, 32, { ...k, maxmem: 256 * k.N * k.r }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function wrapKey(
  secret: Buffer,
  pin: string,
  cost: { N: number; r: number; p: number } = DEFAULT_SCRYPT,
): Promise<WrappedKey> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = await deriveKey(pin, salt, cost);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([c.update(secret), c.final()]);
  return {
    kdf: { name: 'scrypt', ...cost, salt: salt.toString('base64url') },
    cipher: 'aes-256-gcm',
    iv: iv.toString('base64url'),
    tag: c.getAuthTag().toString('base64url'),
    ciphertext: ciphertext.toString('base64url'),
  };
}

export async function unwrapKey(w: WrappedKey, pin: string): Promise<Buffer> {
  if (w.kdf.name !== 'scrypt' || w.cipher !== 'aes-256-gcm') throw new Error('unknown key wrapping');
  const key = await deriveKey(pin, Buffer.from(w.kdf.salt, 'base64url'), w.kdf);
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(w.iv, 'base64url'));
  d.setAuthTag(Buffer.from(w.tag, 'base64url'));
  try {
    return Buffer.concat([d.update(Buffer.from(w.ciphertext, 'base64url')), d.final()]);
  } catch {
    throw new WrongPinError();
  }
}
