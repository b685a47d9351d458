/**
 * PresenceError is how every failed request rejects: `code` is the server's
 * stable error code (docs/protocol.md, Errors), or one of the client's own:
 * "disconnected" (the connection closed before the reply; what the request
 * asked for is kept and restored on reconnect) and "closed" (close() was
 * called, or the server closed for good).
 */
export class PresenceError extends Error {
  readonly code: string;
  constructor(code: string, message?: string) {
    super(message || code);
    this.name = "PresenceError";
    this.code = code;
  }
}
