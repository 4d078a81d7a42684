/**
 * Autosave of a report draft, independent of the UI: edits mark the draft dirty, a quiet period
 * saves it with the version last read, and a stale version (409: saved elsewhere meanwhile) stops
 * autosaving until the person chooses to load the saved text or overwrite it with theirs.
 */
import { ApiError } from '../../api/http.js';
import type { DraftInput } from '../../api/reading.js';
import type { Report } from '../../api/types.js';

export type SaveState = 'clean' | 'dirty' | 'saving' | 'saved' | 'conflict' | 'error';

export interface DraftDeps {
  save(body: DraftInput): Promise<Report>;
  onSaved(r: Report): void;
  onState(s: SaveState, error?: unknown): void;
  delayMs: number;
}

export class DraftAutosave {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private state: SaveState = 'clean';
  private pending: DraftInput | null = null;
  private inFlight: Promise<Report | null> | null = null;

  constructor(
    private readonly deps: DraftDeps,
    private version: number | undefined,
  ) {}

  get current(): SaveState {
    return this.state;
  }

  setVersion(v: number | undefined): void {
    this.version = v;
  }

  private set(s: SaveState, e?: unknown): void {
    this.state = s;
    this.deps.onState(s, e);
  }

  /** An edit: saved after the quiet period, unless a conflict waits for a decision. */
  edit(body: Omit<DraftInput, 'version'>): void {
    this.pending = { ...body };
    if (this.state === 'conflict') return;
    this.set('dirty');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), this.deps.delayMs);
  }

  /** Saves now (before signing or inserting measurements); resolves with the saved report, or null if nothing was pending. */
  async flush(): Promise<Report | null> {
    clearTimeout(this.timer);
    if (this.inFlight) await this.inFlight.catch(() => null);
    if (!this.pending || this.state === 'conflict') return null;
    const body = { ...this.pending, version: this.version };
    this.pending = null;
    this.set('saving');
    this.inFlight = this.deps.save(body).then(
      (r) => {
        this.version = r.version;
        this.deps.onSaved(r);
        this.set(this.pending ? 'dirty' : 'saved');
        if (this.pending) this.timer = setTimeout(() => void this.flush(), this.deps.delayMs);
        return r;
      },
      (e: unknown) => {
        // Keep the text: it is not lost, only not saved.
        this.pending ??= body;
        if (e instanceof ApiError && e.status === 409 && e.code === 'RADLINK_CONFLICT')
          this.set('conflict', e);
        else this.set('error', e);
        throw e;
      },
    );
    try {
      return await this.inFlight;
    } finally {
      this.inFlight = null;
    }
  }

  /** Conflict resolved by keeping mine: save it over the server's newer version. */
  async overwrite(serverVersion: number): Promise<Report | null> {
    this.version = serverVersion;
    this.state = 'dirty';
    return this.flush();
  }

  /** Conflict resolved by taking the server's text: my pending edit is dropped. */
  discard(serverVersion: number): void {
    clearTimeout(this.timer);
    this.pending = null;
    this.version = serverVersion;
    this.set('clean');
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}
