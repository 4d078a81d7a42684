/**
 * Samples, at a fixed interval, the resident memory and CPU time of named processes (from /proc,
 * so the figures are the kernel's, not the process's own view) and the machine's load average.
 * CPU seconds per phase do not depend on what else runs on the machine the way latencies do. Samples
 * are tagged with the phase current at the time, so one sampler covers a run of several phases.
 * The machine is shared: the load average says how much of it the run really had.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { r2 } from './stats.js';

const MiB = 2 ** 20;

/** Resident set size of a process in bytes, or null when it is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds a process has used, or null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Parent pid of every process now running (from /proc). */
function parentPids(): Map<number, number> {
  const out = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      out.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/**
 * CPU seconds used so far by each named process and all its descendants (PostgreSQL's
 * backends are children of the postmaster). Descendants that exited are not counted, so take
 * the difference of two snapshots around a phase whose processes live through it.
 */
export function treeCpuSeconds(roots: Record<string, number | null | undefined>): Record<string, number> {
  const parents = parentPids();
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parents) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const out: Record<string, number> = {};
  for (const [name, root] of Object.entries(roots)) {
    let sum = 0;
    const pending = root ? [root] : [];
    while (pending.length > 0) {
      const pid = pending.pop()!;
      sum += cpuSeconds(pid) ?? 0;
      pending.push(...(children.get(pid) ?? []));
    }
    out[name] = sum;
  }
  return out;
}

/** The CPU seconds each process tree used between two `treeCpuSeconds` snapshots. */
export function cpuDelta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(b).map((k) => [k, r2(b[k]! - (a[k] ?? 0))]));
}

interface Sample {
  phase: string;
  at: number;
  load1: number;
  rss: Record<string, number | null>;
  cpu: Record<string, number | null>;
  pid: Record<string, number | null>;
}

export interface PhaseFigures {
  samples: number;
  loadAverage1m: { mean: number; max: number; min: number };
  rssPeakMiB: Record<string, number | null>;
  cpuSeconds: Record<string, number>;
}

export class Sampler {
  private readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private phase = 'setup';

  constructor(
    private readonly pids: Record<string, () => number | null | undefined>,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
  }

  setPhase(phase: string): void {
    this.sample();
    this.phase = phase;
  }

  private sample(): void {
    const rss: Record<string, number | null> = {};
    const cpu: Record<string, number | null> = {};
    const pids: Record<string, number | null> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      const p = pid() ?? null;
      pids[name] = p;
      rss[name] = p ? rssBytes(p) : null;
      cpu[name] = p ? cpuSeconds(p) : null;
    }
    this.samples.push({ phase: this.phase, at: Date.now(), load1: loadavg()[0]!, rss, cpu, pid: pids });
  }

  /** Figures over the samples of the given phases (all phases when none given). */
  figures(...phases: string[]): PhaseFigures {
    const xs = phases.length ? this.samples.filter((s) => phases.includes(s.phase)) : this.samples;
    const loads = xs.map((s) => s.load1);
    const rssPeakMiB: Record<string, number | null> = {};
    for (const name of Object.keys(this.pids)) {
      const vals = xs.map((s) => s.rss[name]).filter((v): v is number => typeof v === 'number');
      rssPeakMiB[name] = vals.length ? r2(Math.max(...vals) / MiB) : null;
    }
    // CPU used between two samples counts for the phase of the later one (setPhase samples at
    // the boundary); a process that was restarted in between contributes nothing for that step.
    const cpuSeconds: Record<string, number> = {};
    for (const name of Object.keys(this.pids)) {
      let sum = 0;
      for (let i = 1; i < this.samples.length; i++) {
        const a = this.samples[i - 1]!;
        const b = this.samples[i]!;
        if (phases.length && !phases.includes(b.phase)) continue;
        const ca = a.cpu[name];
        const cb = b.cpu[name];
        if (ca == null || cb == null || a.pid[name] !== b.pid[name]) continue;
        sum += cb - ca;
      }
      cpuSeconds[name] = r2(sum);
    }
    return {
      samples: xs.length,
      cpuSeconds,
      loadAverage1m: {
        mean: loads.length ? r2(loads.reduce((a, b) => a + b, 0) / loads.length) : 0,
        max: loads.length ? r2(Math.max(...loads)) : 0,
        min: loads.length ? r2(Math.min(...loads)) : 0,
      },
      rssPeakMiB,
    };
  }
}
