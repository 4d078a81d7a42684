/**
 * Logging options shared by the gateway (and later the workers): pino, JSON, with patient data
 * kept out. Three layers, because no single one is enough:
 *  1. request URLs are logged with query *values* replaced (QIDO queries carry names, IDs, dates);
 *  2. known PHI-bearing keys anywhere in a logged object are censored by pino's redaction;
 *  3. credentials (authorization, cookie, passwords, PINs, TOTP codes) are censored the same way.
 * The log-scan test (tests/logscan) greps every log the test suite wrote for every demo patient's
 * identifiers, so a leak that slips past these layers fails the build.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type DestinationStream, type LoggerOptions } from 'pino';

const PHI_KEYS = [
  'PatientName',
  'PatientID',
  'PatientBirthDate',
  'OtherPatientIDs',
  'OtherPatientIDsSequence',
  'IssuerOfPatientID',
  'patientName',
  'patientId',
  'patientBirthDate',
  'birthDate',
  'displayName',
  '00100010',
  '00100020',
  '00100030',
  '00101000',
  '00101002',
];
const SECRET_KEYS = ['password', 'newPassword', 'currentPassword', 'pin', 'totp', 'code', 'token', 'secret'];

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  ...PHI_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
  ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`]),
];

/** Query parameters whose values are never patient data and help operations. */
const SAFE_QUERY_KEYS = new Set(['limit', 'offset', 'includefield', 'fuzzymatching', 'quality', 'viewport']);

/** `/dicom-web/studies?PatientName=Nguyễn&limit=5` → `/dicom-web/studies?PatientName=~&limit=5`. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = key;
      try {
        decoded = decodeURIComponent(key);
      } catch {
        return '~';
      }
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(decoded)) return '~';
      if (eq < 0 || SAFE_QUERY_KEYS.has(decoded)) return pair;
      return `${key}=~`;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

interface RequestLike {
  method: string;
  url: string;
  id?: string;
  ip?: string;
  socket?: { remoteAddress?: string };
}

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      req: (req: RequestLike) => ({
        id: req.id,
        method: req.method,
        url: redactUrl(req.url),
        remoteAddress: req.ip ?? req.socket?.remoteAddress,
      }),
    },
  };
}

/** A pino logger writing JSON to stdout and, when given, also appending to a file. */
export function createLogger(level: string, file?: string, alsoStdout = true): pino.Logger {
  const streams: { stream: DestinationStream }[] = [];
  if (alsoStdout) streams.push({ stream: pino.destination(1) });
  if (file) {
    mkdirSync(dirname(file), { recursive: true });
    streams.push({ stream: createWriteStream(file, { flags: 'a' }) });
  }
  return pino(loggerOptions(level), pino.multistream(streams));
}
