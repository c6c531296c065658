import { LaasError, type ErrorCode } from '../../protocol/index.js';

/**
 * The HTTP status each error code is answered with. Any part of the controller throws a
 * LaasError with its code; only the API turns it into a status, here. A code not listed is a
 * fault of the request (400). docs/errors.md shows the same status (test/unit/controller/api/errors.test.ts).
 */
export const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  API_BAD_REQUEST: 400,
  API_UNAUTHORIZED: 401,
  API_FORBIDDEN: 403,
  API_HOST_NOT_ALLOWED: 403,
  API_CROSS_SITE: 403,
  ENROLL_FAILED: 403,
  API_NOT_FOUND: 404,
  HEAL_NOT_FOUND: 404,
  API_METHOD_NOT_ALLOWED: 405,
  API_CONFLICT: 409,
  HEAL_NOT_AWAITING_APPROVAL: 409,
  API_BODY_TOO_LARGE: 413,
  API_RATE_LIMITED: 429,
  CLUSTER_OWNER_UNAVAILABLE: 503,
  STORE_UNAVAILABLE: 503,
  STORE_WRITE_FAILED: 503,
};

export function httpStatus(code: ErrorCode): number {
  return HTTP_STATUS[code] ?? 400;
}

/** An error the API itself raises; `caller` is who was refused when the token was valid but its role too low (for the audit log). */
export class ApiError extends LaasError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly caller?: { name: string; role: string },
  ) {
    super(code, message);
  }
}

export function notFound(kind: string, id: string): never {
  throw new ApiError('API_NOT_FOUND', `no ${kind} ${JSON.stringify(id)}`);
}
