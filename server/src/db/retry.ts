/**
 * Retrying a statement or transaction that PostgreSQL aborted to break a deadlock (SQLSTATE
 * 40P01) or a serialization failure (40001). PostgreSQL's own advice for both: the aborted work
 * left nothing behind, so running it again is safe and normally succeeds.
 *
 * Why the index needs it: concurrent STOW requests add instances to the same series, and each
 * write updates the series' and the study's counters. Under the DICOMweb benchmark (8 parts of 4
 * requests in flight into one series) PostgreSQL occasionally picks one of two identical
 * single-statement writes as a deadlock victim (a row lock taken and then updated in one
 * statement, while another writer waits on the same row), and STOW reported that instance as
 * failed although nothing was wrong with it.
 */

/** SQLSTATEs whose work PostgreSQL rolled back and which succeed when run again. */
const RETRYABLE = new Set(['40P01', '40001']);

export function isRetryableConflict(err: unknown): boolean {
  return RETRYABLE.has(String((err as { code?: unknown } | null)?.code ?? ''));
}

/**
 * Runs `work` until it does not fail with a retryable conflict, at most `attempts` times, waiting
 * a short random time between attempts so the two parties of a deadlock do not meet again.
 * Any other error, and the last conflict, are thrown as they are.
 */
export async function retryOnConflict<T>(work: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (attempt >= attempts || !isRetryableConflict(err)) throw err;
      await new Promise((r) => setTimeout(r, 2 + Math.random() * 10 * attempt));
    }
  }
}
