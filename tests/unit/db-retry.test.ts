/**
 * retryOnConflict (server/src/db/retry.ts): work PostgreSQL aborted to break a deadlock or a
 * serialization failure is run again; every other error, and a conflict that persists, reach the
 * caller unchanged.
 */
import { describe, expect, it } from 'vitest';
import { isRetryableConflict, retryOnConflict } from '../../server/src/db/retry.js';

const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });

describe('retryOnConflict', () => {
  it('runs the work again after a deadlock or a serialization failure, and returns its answer', async () => {
    for (const code of ['40P01', '40001']) {
      let calls = 0;
      const answer = await retryOnConflict(async () => {
        calls++;
        if (calls < 3) throw pgError(code);
        return 'written';
      });
      expect(answer).toBe('written');
      expect(calls).toBe(3);
    }
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    const unique = pgError('23505');
    await expect(
      retryOnConflict(async () => {
        calls++;
        throw unique;
      }),
    ).rejects.toBe(unique);
    expect(calls).toBe(1);
    expect(isRetryableConflict(new Error('no code'))).toBe(false);
    expect(isRetryableConflict(null)).toBe(false);
  });

  it('gives up after the given number of attempts with the last conflict', async () => {
    let calls = 0;
    await expect(
      retryOnConflict(async () => {
        calls++;
        throw pgError('40P01');
      }, 4),
    ).rejects.toMatchObject({ code: '40P01' });
    expect(calls).toBe(4);
  });
});
