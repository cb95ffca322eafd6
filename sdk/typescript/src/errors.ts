/** The fixed set of `extensions.code` values the server answers with. */
export type ErrorCode =
  | "BAD_USER_INPUT"
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "QUOTA_EXCEEDED"
  | "TIMEOUT"
  | "INTERNAL";

const KNOWN_CODES = new Set<string>([
  "BAD_USER_INPUT",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "NOT_FOUND",
  "QUOTA_EXCEEDED",
  "TIMEOUT",
  "INTERNAL",
]);

/** Every failure of the client: a GraphQL error, a refused download or an unexpected status. */
export class EphemailError extends Error {
  readonly code: ErrorCode;
  /** Seconds to wait before retrying, with `QUOTA_EXCEEDED`. */
  readonly retryAfter?: number;
  /** The payload's `status` when a mutation had another outcome than asked for (`ADDRESS_TAKEN`). */
  readonly status?: string;

  constructor(code: ErrorCode, message: string, extra: { retryAfter?: number; status?: string } = {}) {
    super(message);
    this.name = "EphemailError";
    this.code = code;
    this.retryAfter = extra.retryAfter;
    this.status = extra.status;
  }

  /** From a GraphQL error object as the server sends it. */
  static fromGraphQL(error: { message?: string; extensions?: Record<string, unknown> }): EphemailError {
    const code = String(error.extensions?.code ?? "INTERNAL");
    const retryAfter = error.extensions?.retryAfter;
    return new EphemailError(
      (KNOWN_CODES.has(code) ? code : "INTERNAL") as ErrorCode,
      error.message ?? code,
      { retryAfter: typeof retryAfter === "number" ? retryAfter : undefined },
    );
  }

  /** From an HTTP status without a GraphQL body (downloads). */
  static fromStatus(status: number, what: string, retryAfter?: number): EphemailError {
    const code: ErrorCode =
      status === 401
        ? "UNAUTHENTICATED"
        : status === 403
          ? "FORBIDDEN"
          : status === 404
            ? "NOT_FOUND"
            : status === 429
              ? "QUOTA_EXCEEDED"
              : status === 400
                ? "BAD_USER_INPUT"
                : "INTERNAL";
    return new EphemailError(code, `${what}: HTTP ${status}`, { retryAfter });
  }
}
