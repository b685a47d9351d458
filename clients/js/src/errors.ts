/**
 * PresenceError is how every failed request rejects: `code` is the server's
 * stable error code (docs/protocol.md, Errors), or one of the client's own:
 * "closed" (close() was called, or the server closed for good, before the
 * reply) and "bad_reply" (a reply that could not be read). A request whose
 * connection drops is sent again after the reconnect, not rejected.
 */
export class PresenceError extends Error {
  readonly code: string;
  constructor(code: string, message?: string) {
    super(message || code);
    this.name = "PresenceError";
    this.code = code;
  }
}
