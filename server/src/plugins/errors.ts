/**
 * One error type and one handler. Handlers throw `AppError(code, reason?)`; everything else
 * (validation failures, body-parser errors, bugs) is mapped onto the catalogue here. 5xx
 * details are logged but never sent: the client gets the catalogue message and the request id.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ERRORS, type ErrorBody, type ErrorCode } from '../../../contracts/errors.js';

export class AppError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: ErrorCode,
    reason?: string,
    readonly headers?: Record<string, string>,
  ) {
    super(reason ?? ERRORS[code].message);
    this.name = 'AppError';
    this.statusCode = ERRORS[code].statusCode;
  }
}

function mapFastifyError(err: FastifyError): { code: ErrorCode; message: string } {
  if (err.validation) {
    const where = err.validationContext ?? 'request';
    const detail = err.validation
      .slice(0, 5)
      .map((v) => `${where}${v.instancePath || ''} ${v.message ?? 'is invalid'}`)
      .join('; ');
    return { code: 'RADLINK_VALIDATION', message: detail };
  }
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { code: 'RADLINK_BAD_JSON', message: `The request body is not valid JSON: ${err.message}` };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'RADLINK_PAYLOAD_TOO_LARGE', message: ERRORS.RADLINK_PAYLOAD_TOO_LARGE.message };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { code: 'RADLINK_UNSUPPORTED_MEDIA_TYPE', message: err.message };
    default:
      break;
  }
  if (err.statusCode === 429)
    return { code: 'RADLINK_RATE_LIMITED', message: ERRORS.RADLINK_RATE_LIMITED.message };
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return { code: 'RADLINK_BAD_REQUEST', message: err.message };
  }
  if (backingServiceDown(err))
    return { code: 'RADLINK_UPSTREAM_UNAVAILABLE', message: ERRORS.RADLINK_UPSTREAM_UNAVAILABLE.message };
  return { code: 'RADLINK_INTERNAL', message: ERRORS.RADLINK_INTERNAL.message };
}

/**
 * Connection refused or cut, and PostgreSQL's "shutting down / starting up / connection lost"
 * SQLSTATEs (57P01–57P03, class 08): the request may succeed once the service is back, so it
 * is answered 503, not 500 (seen while PostgreSQL restarts in tests/fuzz/faults.test.ts).
 */
const DOWN_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08006',
]);
function backingServiceDown(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
  return (
    DOWN_CODES.has(String(e.code)) ||
    DOWN_CODES.has(String(e.cause?.code)) ||
    /^Connection terminated/.test(String(e.message ?? ''))
  );
}

function sendError(reply: FastifyReply, request: FastifyRequest, code: ErrorCode, message: string): void {
  const body: ErrorBody = { code, message, statusCode: ERRORS[code].statusCode, requestId: request.id };
  void reply.code(body.statusCode).type('application/json; charset=utf-8').send(body);
}

export default fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((err: FastifyError | AppError, request, reply) => {
      if (err instanceof AppError) {
        if (err.headers) void reply.headers(err.headers);
        if (err.statusCode >= 500) request.log.error({ err }, 'request failed');
        return sendError(reply, request, err.code, err.message);
      }
      const mapped = mapFastifyError(err as FastifyError);
      if (mapped.code === 'RADLINK_INTERNAL') request.log.error({ err }, 'unhandled error');
      else if (mapped.code === 'RADLINK_UPSTREAM_UNAVAILABLE')
        request.log.warn({ err: (err as Error).message }, 'backing service unavailable');
      else
        request.log.info(
          { code: mapped.code, statusCode: ERRORS[mapped.code].statusCode },
          'request refused',
        );
      return sendError(reply, request, mapped.code, mapped.message);
    });
    app.setNotFoundHandler((request, reply) =>
      sendError(reply, request, 'RADLINK_ROUTE_NOT_FOUND', 'No such route.'),
    );
  },
  { name: 'radlink-errors' },
);
