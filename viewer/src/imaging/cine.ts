/**
 * Cine of a stack viewport, paced by the drawing of each slice rather than by a fixed timer.
 *
 * Cornerstone's playClip ticks on a setInterval and skips a tick whenever the slice asked for at
 * the previous tick is not drawn yet, so a slice that takes a little longer than the interval to
 * draw costs a whole second interval: at 20/s (50 ms), slices taking 55 ms play at 10/s. Measured
 * on this project's test machine (software WebGL, 2 shared cores), drawing a slice takes 30–60 ms,
 * right at the 20/s interval. Here the next slice is asked for as soon as the previous one has
 * been drawn and its time has come, so the clip plays at the chosen rate while slices draw in
 * time and at 1 / (drawing time) when they do not.
 *
 * Invariants: one slice at a time, in order, looping (no slice is skipped to keep time); over
 * any stretch never faster than the chosen rate (each slice's time is at least one interval
 * after the previous one's, and never less than half an interval after the previous slice was
 * asked for, which only lets timer jitter be made up).
 */

/** What the clip needs of a stack viewport (the controller adapts Cornerstone's StackViewport). */
export interface CineStack {
  /** Where "a slice was drawn" is announced (Cornerstone: IMAGE_RENDERED on the element). */
  element: Pick<EventTarget, 'addEventListener' | 'removeEventListener'>;
  renderedEvent: string;
  imageCount(): number;
  /** The slice last asked for. */
  target(): number;
  /** Slice k is the one on screen and it has been drawn. */
  drawn(k: number): boolean;
  show(k: number): Promise<unknown>;
}

/** A slice that is never drawn (a failed load) holds the clip this many intervals at most. */
const MAX_WAIT_INTERVALS = 30;

export class StackCine {
  private readonly interval: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** When the next slice may be asked for (now() time). */
  private due: number;
  /** The slice asked for and not drawn yet, or -1. */
  private pending = -1;
  private stopped = false;

  constructor(
    private readonly stack: CineStack,
    framesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.interval = 1000 / framesPerSecond;
    this.due = now() + this.interval;
    stack.element.addEventListener(stack.renderedEvent, this.onRendered);
    this.wait(this.interval);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stack.element.removeEventListener(this.stack.renderedEvent, this.onRendered);
  }

  private wait(ms: number): void {
    clearTimeout(this.timer);
    // Rounded up: timers truncate fractions of a millisecond, which would fire before the due time.
    this.timer = setTimeout(this.advance, Math.max(0, Math.ceil(ms)));
  }

  private readonly onRendered = (): void => {
    if (this.stopped || this.pending < 0 || !this.stack.drawn(this.pending)) return;
    this.pending = -1;
    this.wait(this.due - this.now());
  };

  private readonly advance = (): void => {
    if (this.stopped) return;
    const count = this.stack.imageCount();
    if (count < 2) return;
    const next = (this.stack.target() + 1) % count;
    this.due = Math.max(this.due + this.interval, this.now() + this.interval / 2);
    this.pending = next;
    // The watchdog: the clip goes on even if this slice is never drawn.
    this.wait(this.interval * MAX_WAIT_INTERVALS);
    this.stack.show(next).catch(() => {
      // A slice that failed to load is passed by the watchdog; scrolling to it retries it.
    });
  };
}
