import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loggerOptions, redactUrl } from '../../server/src/logger.js';

describe('redactUrl', () => {
  it.each([
    ['/dicom-web/studies?PatientName=Nguy%E1%BB%85n&limit=5', '/dicom-web/studies?PatientName=~&limit=5'],
    [
      '/dicom-web/studies?PatientID=BN123&PatientBirthDate=19800101',
      '/dicom-web/studies?PatientID=~&PatientBirthDate=~',
    ],
    [
      '/dicom-web/studies?00100010=Tran*&offset=10&includefield=all',
      '/dicom-web/studies?00100010=~&offset=10&includefield=all',
    ],
    ['/dicom-web/studies', '/dicom-web/studies'],
    ['/x?%E1%BB%85=1', '/x?~'],
    ['/x?a=%ZZ', '/x?a=~'],
  ])('%s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected);
  });
});

describe('logger redaction', () => {
  it('censors PHI keys and credentials at any depth', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = pino(loggerOptions('info'), sink);
    log.info(
      {
        PatientName: 'Nguyễn^Thị',
        body: { password: 'hunter22', PatientID: 'BN1' },
        x: { y: { PatientBirthDate: '19800101' } },
      },
      'hello',
    );
    log.info(
      {
        req: {
          method: 'GET',
          url: '/dicom-web/studies?PatientName=Tran',
          headers: { authorization: 'Bearer abc' },
        },
      },
      'req',
    );
    const out = lines.join('');
    for (const leak of ['Nguyễn', 'hunter22', 'BN1', '19800101', 'Tran', 'Bearer abc'])
      expect(out).not.toContain(leak);
    expect(out).toContain('[redacted]');
  });
});
