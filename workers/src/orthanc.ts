/**
 * The workers' read-only view of Orthanc: fetch a stored instance file. Basic auth over loopback;
 * Orthanc stores files byte for byte, so `/instances/{id}/file` is exactly what was received.
 */
import type { Readable } from 'node:stream';
import { request } from 'undici';

export class OrthancNotFound extends Error {}
export class OrthancUnavailable extends Error {}

export class OrthancReader {
  private readonly auth: string;
  constructor(
    private readonly url: string,
    username: string,
    password: string,
  ) {
    this.auth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  /**
   * The stored Part 10 file as a stream, with its length when Orthanc declares it. Throws
   * OrthancNotFound (permanent) or OrthancUnavailable (transient).
   */
  async instanceFile(orthancId: string): Promise<{ body: Readable; length: number | null }> {
    if (!/^[0-9a-f-]{8,64}$/.test(orthancId)) throw new OrthancNotFound('not an Orthanc instance id');
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(`${this.url}/instances/${orthancId}/file`, {
        headers: { authorization: this.auth },
        headersTimeout: 30_000,
        bodyTimeout: 120_000,
      });
    } catch (err) {
      throw new OrthancUnavailable(`Orthanc unreachable (${(err as { code?: string }).code ?? 'error'})`);
    }
    if (res.statusCode === 404) {
      res.body.resume();
      throw new OrthancNotFound('the instance is no longer in Orthanc');
    }
    if (res.statusCode !== 200) {
      res.body.resume();
      throw new OrthancUnavailable(`Orthanc answered ${res.statusCode}`);
    }
    const declared = Number(res.headers['content-length']);
    return { body: res.body, length: Number.isSafeInteger(declared) && declared >= 0 ? declared : null };
  }
}
