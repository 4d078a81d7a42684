/**
 * Group calls: every call made while one run is in progress joins the next run, so N concurrent
 * callers pay one round trip (to PostgreSQL, Redis) instead of N. The first call after a quiet
 * spell runs at once — nothing waits for a timer — so a lone caller sees no added latency, and
 * batches grow only as far as the load makes them.
 *
 * Invariants:
 *  - A call's run starts after the call was made: a lookup sees every write committed before it
 *    (what a single statement issued at that moment would see).
 *  - One run at a time, at most `maxBatch` items each; items are answered in the order given.
 *  - A failed run fails every call in it, and only those: the next batch runs all the same.
 */
export class Batcher<I, R> {
  private queue: { item: I; resolve: (r: R) => void; reject: (err: unknown) => void }[] = [];
  private running: Promise<void> | null = null;

  /** `run` answers with one result per item, in the items' order. */
  constructor(
    private readonly run: (items: I[]) => Promise<R[]>,
    private readonly maxBatch = 500,
  ) {}

  /** A batcher of writes: callers learn when their item is committed. */
  static ofWrites<T>(write: (items: T[]) => Promise<void>, maxBatch?: number): Batcher<T, void> {
    return new Batcher<T, void>(async (items) => {
      await write(items);
      return items.map((): void => undefined);
    }, maxBatch);
  }

  call(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.running ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const results = await this.run(batch.map((b) => b.item));
        if (results.length !== batch.length)
          throw new Error(`batch answered ${results.length} results for ${batch.length} items`);
        for (const [i, b] of batch.entries()) b.resolve(results[i] as R);
      } catch (err) {
        for (const b of batch) b.reject(err ?? new Error('batch failed'));
      }
    }
    this.running = null;
  }

  /** Resolves once nothing is queued or running. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }
}
