/**
 * Services left running by a supervisor that died without stopping them (SIGKILL, OOM, power
 * loss of a terminal). Supervised children run in their own process group, so they survive their
 * parent; the next start finds them through the old `run/services.json` and ends them before
 * binding the same ports and data directories.
 *
 * A pid is only killed when /proc proves it belongs to this data directory (its working
 * directory is inside it, or its environment has RADLINK_DATA=<dir>): pids are reused, and other
 * people's processes on the machine must never be touched.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { readStatusFile } from './status-board.js';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when /proc shows that `pid` works in `dataDir` (cwd inside it, or RADLINK_DATA=dataDir). */
export function belongsTo(pid: number, dataDir: string): boolean {
  const dir = resolve(dataDir);
  try {
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    if (cwd === dir || cwd.startsWith(dir + sep)) return true;
  } catch {
    /* gone, or not ours to read */
  }
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`RADLINK_DATA=${dir}`);
  } catch {
    return false;
  }
}

/** The supervisor is start.ts or a test runner: a Node process (a reused pid rarely is). */
function isNode(pid: number): boolean {
  try {
    return /(^|\/)node\0/.test(readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
  } catch {
    return false;
  }
}

export interface LeftoverReport {
  /** Pid of a supervisor that is still running with this data directory, if any. */
  liveSupervisor: number | null;
  killed: { name: string; pid: number }[];
}

/**
 * Reads `statusFile`; if its supervisor is still alive, reports it and touches nothing (a second
 * instance must not steal the first one's services). Otherwise SIGKILLs every listed service
 * process that still belongs to `dataDir`, and waits until they are gone.
 */
export async function reapLeftovers(statusFile: string, dataDir: string): Promise<LeftoverReport> {
  const status = readStatusFile(statusFile);
  const report: LeftoverReport = { liveSupervisor: null, killed: [] };
  if (!status) return report;
  if (status.supervisorPid !== process.pid && isAlive(status.supervisorPid) && isNode(status.supervisorPid)) {
    report.liveSupervisor = status.supervisorPid;
    return report;
  }
  for (const svc of Object.values(status.services)) {
    const pid = svc.pid;
    if (!pid || pid === process.pid || !isAlive(pid) || !belongsTo(pid, dataDir)) continue;
    try {
      process.kill(-pid, 'SIGKILL'); // its process group (it was a group leader)
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        continue;
      }
    }
    report.killed.push({ name: svc.name, pid });
  }
  const deadline = Date.now() + 5000;
  while (report.killed.some((k) => isAlive(k.pid)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return report;
}
