/**
 * One onnxruntime InferenceSession per model file per process, created on first use and reused
 * (ARCHITECTURE.md practice 8: creating a session parses and optimises the graph, far too slow
 * per job). Sessions run single-threaded and sequentially: a worker process is one unit of
 * parallelism, and the machine's cores are shared by the gateway, Orthanc and other workers —
 * scale out with more sandboxed processes, not more threads per session.
 *
 * The cache is keyed by the file's absolute path plus its SHA-256, so a model replaced on disk
 * under the same path gets a fresh session.
 */
import { InferenceSession } from 'onnxruntime-node';

export const SESSION_OPTIONS: InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
};

export class SessionCache {
  private readonly sessions = new Map<string, Promise<InferenceSession>>();

  /** The session for `path` (with content hash `sha256`), created once. */
  get(path: string, sha256: string): Promise<InferenceSession> {
    const key = `${path}#${sha256}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = InferenceSession.create(path, SESSION_OPTIONS);
      // A failed load must not poison the cache: the next call retries.
      s.catch(() => this.sessions.delete(key));
      this.sessions.set(key, s);
    }
    return s;
  }

  get size(): number {
    return this.sessions.size;
  }

  async close(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.allSettled(all.map(async (p) => (await p).release()));
  }
}
