import { describe, expect, it } from 'vitest';
import { Batcher } from '../../server/src/db/batcher.js';

/** A run that can be held open, to see what joins the next batch. */
function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

describe('Batcher', () => {
  it('runs a lone call at once and groups the calls made while a run is in progress', async () => {
    const runs: number[][] = [];
    let hold = gate();
    const b = new Batcher<number, string>(async (items) => {
      runs.push([...items]);
      await hold.p;
      return items.map((i) => `r${i}`);
    });
    const first = b.call(1);
    await Promise.resolve();
    expect(runs).toEqual([[1]]);
    const rest = [2, 3, 4].map((i) => b.call(i));
    expect(runs).toHaveLength(1);
    const held = hold;
    hold = gate();
    hold.open();
    held.open();
    expect(await first).toBe('r1');
    expect(await Promise.all(rest)).toEqual(['r2', 'r3', 'r4']);
    expect(runs).toEqual([[1], [2, 3, 4]]);
    await b.idle();
  });

  it('splits a backlog at maxBatch and keeps each caller’s own answer', async () => {
    const sizes: number[] = [];
    const b = new Batcher<number, number>(async (items) => {
      sizes.push(items.length);
      await new Promise((r) => setTimeout(r, 1));
      return items.map((i) => i * 10);
    }, 3);
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => b.call(i)));
    expect(answers).toEqual([0, 10, 20, 30, 40, 50, 60, 70]);
    expect(sizes).toEqual([1, 3, 3, 1]);
  });

  it('fails the calls of a failed run only, and runs the next batch', async () => {
    let n = 0;
    const b = new Batcher<string, string>(async (items) => {
      n++;
      await new Promise((r) => setTimeout(r, 1));
      if (n === 2) throw new Error('database gone');
      return items;
    });
    const a = b.call('a');
    const bc = [b.call('b'), b.call('c')];
    expect(await a).toBe('a');
    await expect(Promise.all(bc)).rejects.toThrow('database gone');
    expect(await b.call('d')).toBe('d');
  });

  it('refuses a run that answers a different number of results', async () => {
    const b = new Batcher<number, number>(async () => [1, 2]);
    await expect(b.call(1)).rejects.toThrow('2 results for 1 items');
  });

  it('ofWrites tells each caller when its item was written', async () => {
    const written: string[][] = [];
    const w = Batcher.ofWrites<string>(async (items) => {
      written.push(items);
      await new Promise((r) => setTimeout(r, 1));
    });
    await Promise.all(['x', 'y', 'z'].map((i) => w.call(i)));
    expect(written).toEqual([['x'], ['y', 'z']]);
  });
});
