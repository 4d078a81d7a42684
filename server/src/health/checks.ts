/**
 * Readiness: each backing service is probed with a deadline, in parallel. The supervisor's
 * view (scripts/services/supervisor.ts writes RADLINK_DATA/run/services.json) adds what a probe
 * cannot see: a service that is being restarted, and how often it was.
 */
import { readFile } from 'node:fs/promises';

export type ComponentState = 'ok' | string;

export async function withDeadline(p: Promise<unknown>, ms: number): Promise<ComponentState> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      p,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
    return 'ok';
  } catch (err) {
    return `error: ${(err as Error).message}`.slice(0, 200);
  } finally {
    clearTimeout(timer);
  }
}

export interface SupervisedService {
  state: string;
  restarts: number;
  pid?: number | null;
  lastExit?: unknown;
}

export async function readSupervisorStatus(file: string): Promise<Record<string, SupervisedService> | null> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as {
      services?: Record<string, SupervisedService>;
    };
    return parsed.services ?? null;
  } catch {
    return null;
  }
}
