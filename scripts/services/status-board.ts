/**
 * `<RADLINK_DATA>/run/services.json`: the status of every supervised service, rewritten on each
 * change. The gateway reads it for /readyz and /metrics; `start.ts` and the test harness read it to
 * find processes a crashed predecessor left behind.
 *
 * Invariants: one writer per file (the supervising process); every write is atomic (tmp file +
 * rename in the same directory), so a reader never sees a torn or half-written file.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type ServiceState = 'starting' | 'ok' | 'restarting' | 'stopped' | 'failed';

export interface ServiceStatus {
  name: string;
  state: ServiceState;
  /** Pid of the current process; null while restarting, stopped or failed. */
  pid: number | null;
  /** Executable and arguments, so a later run can recognise a leftover process by its cmdline. */
  command: string[];
  /** Where the service answers (e.g. `http://127.0.0.1:8042`), for humans and /metrics labels. */
  endpoint: string | null;
  /** Times the supervisor respawned the process after an unexpected exit. */
  restarts: number;
  lastExitCode: number | null;
  lastExitSignal: string | null;
  lastExitAt: string | null;
  /** When the current process was spawned / first answered its readiness probe. */
  startedAt: string | null;
  readyAt: string | null;
  /** Last problem worth showing: a spawn error, the last failed probe, why it is `failed`. */
  message: string | null;
  logFile: string;
  updatedAt: string;
}

export interface StatusFile {
  /** Pid of the supervising process (start.ts or the test runner). */
  supervisorPid: number;
  updatedAt: string;
  services: Record<string, ServiceStatus>;
}

export class StatusBoard {
  private readonly services = new Map<string, ServiceStatus>();

  constructor(readonly file: string) {
    mkdirSync(dirname(file), { recursive: true });
  }

  update(status: ServiceStatus): void {
    this.services.set(status.name, { ...status });
    this.write();
  }

  snapshot(): StatusFile {
    return {
      supervisorPid: process.pid,
      updatedAt: new Date().toISOString(),
      services: Object.fromEntries([...this.services].map(([k, v]) => [k, { ...v }])),
    };
  }

  private write(): void {
    // Synchronous on purpose: changes are rare (a few per service lifetime) and a sync write
    // cannot interleave with another one, which keeps the file's content ordered.
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.snapshot(), null, 2)}\n`);
    renameSync(tmp, this.file);
  }
}

/** Reads a status file; null when it does not exist or is unreadable. */
export function readStatusFile(file: string): StatusFile | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StatusFile;
  } catch {
    return null;
  }
}
