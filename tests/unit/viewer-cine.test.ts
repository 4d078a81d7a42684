/**
 * The viewer's cine pacing (viewer/src/imaging/cine.ts) on a simulated stack whose slices take a
 * chosen time to draw, under fake timers: the chosen rate when drawing keeps up, 1 / (drawing
 * time) when it does not (not half the rate, as a clip that skips a timer tick does), never
 * faster than chosen, every slice in order, a slice that never draws does not stop the clip.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type CineStack, StackCine } from '../../viewer/src/imaging/cine.js';

interface Sim {
  stack: CineStack;
  /** [time asked for, slice] of every slice the clip asked for. */
  shown: Array<[number, number]>;
}

/** A stack of `count` slices; slice k takes drawMs(k) to draw (Infinity: never drawn). */
function simStack(count: number, drawMs: (k: number) => number): Sim {
  const element = new EventTarget();
  const shown: Array<[number, number]> = [];
  let target = 0;
  let current = 0;
  let drawn = true;
  const stack: CineStack = {
    element,
    renderedEvent: 'rendered',
    imageCount: () => count,
    target: () => target,
    drawn: (k) => current === k && drawn,
    show: (k) => {
      shown.push([Date.now(), k]);
      target = k;
      current = k;
      drawn = false;
      const ms = drawMs(k);
      if (Number.isFinite(ms))
        setTimeout(() => {
          if (current !== k) return;
          drawn = true;
          element.dispatchEvent(new Event('rendered'));
        }, ms);
      return Promise.resolve();
    },
  };
  return { stack, shown };
}

/** Slices per second between the first and the last slice asked for. */
const rateOf = (shown: Array<[number, number]>) =>
  (shown.length - 1) / ((shown[shown.length - 1]![0] - shown[0]![0]) / 1000);
const gapsOf = (shown: Array<[number, number]>) => shown.slice(1).map(([t], i) => t - shown[i]![0]);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('stack cine pacing', () => {
  it('plays at the chosen rate when slices draw in time, one slice at a time, looping', () => {
    const sim = simStack(24, () => 20);
    const cine = new StackCine(sim.stack, 20, () => Date.now());
    vi.advanceTimersByTime(10_000);
    cine.stop();
    const rate = rateOf(sim.shown);
    expect(rate).toBeGreaterThan(19.5);
    expect(rate).toBeLessThanOrEqual(20.001);
    // In order from the slice shown at the start, wrapping from the last to the first.
    expect(sim.shown.map(([, k]) => k)).toEqual(sim.shown.map((_, i) => (i + 1) % 24));
    expect(sim.shown.length).toBeGreaterThan(24 * 8);
  });

  it('a slice drawn a little late costs its drawing time, not a second interval', () => {
    // 55 ms per slice at 20/s (50 ms): a clip that skips a timer tick while the slice is not drawn
    // plays every 100 ms (10/s); paced by the drawing it plays every 55 ms (18.2/s).
    const sim = simStack(24, () => 55);
    const cine = new StackCine(sim.stack, 20, () => Date.now());
    vi.advanceTimersByTime(10_000);
    cine.stop();
    const rate = rateOf(sim.shown);
    expect(rate).toBeGreaterThan(17.5);
    expect(rate).toBeLessThan(18.5);
    expect(Math.min(...gapsOf(sim.shown))).toBeGreaterThanOrEqual(55);
  });

  it('never plays faster than chosen, also after a slow slice', () => {
    // Every fifth slice takes 200 ms to draw, the others draw at once: the clip does not make up
    // the lost time in a burst beyond half an interval.
    const sim = simStack(24, (k) => (k % 5 === 0 ? 200 : 0));
    const cine = new StackCine(sim.stack, 12, () => Date.now());
    vi.advanceTimersByTime(12_000);
    cine.stop();
    expect(rateOf(sim.shown)).toBeLessThanOrEqual(12.001);
    expect(Math.min(...gapsOf(sim.shown))).toBeGreaterThanOrEqual(1000 / 12 / 2 - 0.001);
    expect(sim.shown.map(([, k]) => k)).toEqual(sim.shown.map((_, i) => (i + 1) % 24));
  });

  it('a slice that is never drawn holds the clip for 30 intervals, then it goes on', () => {
    const sim = simStack(24, (k) => (k === 3 ? Number.POSITIVE_INFINITY : 10));
    const cine = new StackCine(sim.stack, 20, () => Date.now());
    vi.advanceTimersByTime(3_000);
    cine.stop();
    const gaps = gapsOf(sim.shown);
    const at3 = sim.shown.findIndex(([, k]) => k === 3);
    expect(gaps[at3]).toBe(30 * 50);
    expect(sim.shown[at3 + 1]![1]).toBe(4);
  });

  it('stops: no slice is asked for after stop()', () => {
    const sim = simStack(24, () => 10);
    const cine = new StackCine(sim.stack, 20, () => Date.now());
    vi.advanceTimersByTime(1_000);
    cine.stop();
    const n = sim.shown.length;
    vi.advanceTimersByTime(5_000);
    expect(n).toBeGreaterThan(15);
    expect(sim.shown.length).toBe(n);
  });
});
