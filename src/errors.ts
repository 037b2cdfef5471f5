// Domain errors. Modules throw these; the app's one error handler turns them into 4xx answers.
export class DomainError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.statusCode = statusCode;
  }
}

/** The input cannot be used as a whole (e.g. a feed that is not a feed). */
export class InvalidInputError extends DomainError {
  constructor(message: string, options?: ErrorOptions) {
    super(400, message, options);
  }
}

export class NotFoundError extends DomainError {
  constructor(message: string) {
    super(404, message);
  }
}

export class ConflictError extends DomainError {
  constructor(message: string) {
    super(409, message);
  }
}

/** Body parsers (multipart, urlencoded) fail on broken input with errors that carry no status: a 400. */
export function isUnreadableForm(error: Error): boolean {
  return /^Multipart: |Unexpected end of (form|multipart data)|Malformed part header/.test(error.message);
}

/**
 * The database is saturated: no pooled connection came free in time (node-postgres says so only in its
 * message), or Prisma could not start a transaction (P2028) or get a connection (P2024) in time. Not a
 * bug but a full house: the client should try again shortly (503 with Retry-After).
 */
export function isOverloaded(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === 'P2028' || code === 'P2024' || message === 'timeout exceeded when trying to connect';
}
