/**
 * The one catalogue of coded errors. Every error a client can see has a code here, an HTTP
 * status and a default message that never contains patient data. Handlers may replace the
 * message with a more specific, still PHI-free, reason.
 */
export const ERRORS = {
  RADLINK_BAD_REQUEST: { statusCode: 400, message: 'The request is malformed.' },
  RADLINK_VALIDATION: { statusCode: 400, message: 'The request does not match the schema.' },
  RADLINK_BAD_JSON: { statusCode: 400, message: 'The request body is not valid JSON.' },
  RADLINK_UNAUTHENTICATED: { statusCode: 401, message: 'Authentication is required.' },
  RADLINK_BAD_CREDENTIALS: { statusCode: 401, message: 'Unknown user or wrong password.' },
  RADLINK_TOTP_REQUIRED: { statusCode: 401, message: 'A one-time code (TOTP) is required.' },
  RADLINK_TOTP_INVALID: { statusCode: 401, message: 'The one-time code is wrong or expired.' },
  RADLINK_TOKEN_INVALID: { statusCode: 401, message: 'The token is invalid or expired.' },
  RADLINK_SESSION_REVOKED: { statusCode: 401, message: 'The session has ended; log in again.' },
  RADLINK_USER_DISABLED: { statusCode: 401, message: 'This account is disabled.' },
  RADLINK_FORBIDDEN: { statusCode: 403, message: 'Your role may not do this.' },
  RADLINK_NOT_FOUND: { statusCode: 404, message: 'Not found.' },
  RADLINK_ROUTE_NOT_FOUND: { statusCode: 404, message: 'No such route.' },
  RADLINK_CONFLICT: { statusCode: 409, message: 'The request conflicts with the current state.' },
  RADLINK_NOT_ACCEPTABLE: {
    statusCode: 406,
    message: 'The requested media type or transfer syntax is not available.',
  },
  RADLINK_PAYLOAD_TOO_LARGE: { statusCode: 413, message: 'The request body is too large.' },
  RADLINK_UNSUPPORTED_MEDIA_TYPE: { statusCode: 415, message: 'The request media type is not supported.' },
  RADLINK_RATE_LIMITED: { statusCode: 429, message: 'Too many requests; slow down.' },
  RADLINK_INTERNAL: { statusCode: 500, message: 'Internal error.' },
  RADLINK_UPSTREAM_UNAVAILABLE: { statusCode: 503, message: 'A backing service is unavailable.' },
  RADLINK_NOT_READY: { statusCode: 503, message: 'The service is not ready.' },
  RADLINK_STORAGE_FULL: {
    statusCode: 503,
    message: 'Storage is nearly full: nothing was stored; retry later.',
  },
  RADLINK_PIN_INVALID: { statusCode: 403, message: 'The signing PIN is wrong; nothing was signed.' },
  RADLINK_PIN_LOCKED: {
    statusCode: 429,
    message: 'Too many wrong signing PINs; the signing key is locked for a while.',
  },
  RADLINK_SIGNER_NOT_ENROLLED: {
    statusCode: 409,
    message: 'No signing certificate: enrol a signing PIN first.',
  },
  RADLINK_CERTIFICATE_INVALID: {
    statusCode: 409,
    message: 'The signing certificate is revoked or outside its validity period; nothing was signed.',
  },
  RADLINK_REPORT_SIGNED: {
    statusCode: 409,
    message: 'A signed report cannot be changed; write an addendum.',
  },
  // Patient share links (server/src/share). None of these names or hints at the study.
  RADLINK_SHARE_INVALID: { statusCode: 401, message: 'This share link is not valid.' },
  RADLINK_SHARE_SECRET_WRONG: { statusCode: 401, message: 'The PIN or birth year is wrong.' },
  // Answer to opening with the token alone: tells the page which secret to ask for (no attempt used).
  RADLINK_SHARE_PIN_REQUIRED: { statusCode: 401, message: 'Enter the PIN printed on the slip.' },
  RADLINK_SHARE_BIRTH_YEAR_REQUIRED: { statusCode: 401, message: "Enter the patient's year of birth." },
  RADLINK_SHARE_LOCKED: {
    statusCode: 423,
    message: 'Too many wrong attempts: this share link is locked. Ask the facility for a new one.',
  },
  RADLINK_SHARE_EXPIRED: { statusCode: 410, message: 'This share link has expired.' },
  RADLINK_SHARE_REVOKED: { statusCode: 410, message: 'This share link was withdrawn by the facility.' },
  RADLINK_SHARE_SESSION_ENDED: {
    statusCode: 401,
    message: 'The viewing session has ended; open the link again.',
  },
} as const satisfies Record<string, { statusCode: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** The body of every error response. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  statusCode: number;
  /** Request id, to find the detail in the server log. */
  requestId?: string;
}
