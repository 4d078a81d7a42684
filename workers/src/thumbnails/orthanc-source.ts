/**
 * The thumbnails worker's read-only view of Orthanc: a series' instances by UIDs, and the
 * rendering reads (imaging/render-frame.ts FrameSource). Basic auth over loopback, one keep-alive
 * pool. Orthanc answers `Keep-Alive: timeout=1`; undici's default margin (2 s) would treat every
 * socket as expired at once, hence the smaller threshold.
 */
import { Pool } from 'undici';
import type { FrameSource, ShortTags } from '../../../imaging/render-frame.js';
import type { SeriesMember } from '../../../imaging/thumbnail.js';

/** Orthanc is unreachable or answered 5xx: worth retrying later. */
export class OrthancTransient extends Error {}

export interface OrthancSeriesMember extends SeriesMember {
  orthancId: string;
}

export class ThumbnailOrthanc implements FrameSource {
  private readonly pool: Pool;
  private readonly auth: string;
  constructor(url: string, username: string, password: string) {
    this.pool = new Pool(url, { connections: 4, keepAliveTimeoutThreshold: 500 });
    this.auth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  async get(path: string, accept: string): Promise<{ statusCode: number; body: Buffer }> {
    return this.send('GET', path, { accept });
  }

  async tags(orthancId: string): Promise<ShortTags> {
    return this.json<ShortTags>('GET', `/instances/${orthancId}/tags?short`);
  }

  /**
   * The instances of the series with these UIDs (Orthanc ids, InstanceNumber, frames); an empty
   * list when Orthanc holds no such series (deleted since the job was queued).
   */
  async seriesMembers(studyUid: string, seriesUid: string): Promise<OrthancSeriesMember[]> {
    const hits = await this.json<{ ID: string; Type: string }[]>('POST', '/tools/lookup', seriesUid);
    for (const hit of hits.filter((h) => h.Type === 'Series')) {
      // A series UID is unique in practice; the parent study check keeps a stray duplicate out.
      const study = await this.json<{ MainDicomTags?: Record<string, string> }>(
        'GET',
        `/series/${hit.ID}/study`,
      );
      if (study.MainDicomTags?.StudyInstanceUID?.trim() !== studyUid) continue;
      const instances = await this.json<{ ID: string; MainDicomTags?: Record<string, string> }[]>(
        'GET',
        `/series/${hit.ID}/instances`,
      );
      return instances.map((i) => {
        const n = Number.parseInt(i.MainDicomTags?.InstanceNumber ?? '', 10);
        const frames = Number.parseInt(i.MainDicomTags?.NumberOfFrames ?? '', 10);
        return {
          orthancId: i.ID,
          sopInstanceUid: (i.MainDicomTags?.SOPInstanceUID ?? '').trim(),
          instanceNumber: Number.isFinite(n) ? n : null,
          numberOfFrames: Number.isFinite(frames) && frames > 0 ? frames : 1,
        };
      });
    }
    return [];
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private async json<T>(method: 'GET' | 'POST', path: string, body?: string): Promise<T> {
    const res = await this.send(method, path, {}, body);
    if (res.statusCode !== 200)
      throw new OrthancTransient(`Orthanc answered ${res.statusCode} to ${method} ${path.split('?')[0]}`);
    return JSON.parse(res.body.toString('utf8')) as T;
  }

  private async send(
    method: 'GET' | 'POST',
    path: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<{ statusCode: number; body: Buffer }> {
    try {
      const res = await this.pool.request({
        method,
        path,
        headers: { ...headers, authorization: this.auth },
        body: body ?? null,
        headersTimeout: 30_000,
        bodyTimeout: 60_000,
      });
      const bytes = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode >= 500) throw new OrthancTransient(`Orthanc answered ${res.statusCode}`);
      return { statusCode: res.statusCode, body: bytes };
    } catch (err) {
      if (err instanceof OrthancTransient) throw err;
      throw new OrthancTransient(`Orthanc unreachable (${(err as { code?: string }).code ?? 'error'})`);
    }
  }
}
