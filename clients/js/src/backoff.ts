// The reconnect policy of docs/protocol.md's close code table, kept apart
// from the client so it is one small table to read and to test.

/** What to do after a close: stop, or wait this many ms and reconnect. */
export type CloseAction = { retry: false } | { retry: true; delayMs: number };

export interface BackoffConfig {
  /** First delay ceiling; doubles per failed attempt. */
  baseMs: number;
  /** Largest delay ceiling. */
  capMs: number;
  random: () => number;
}

export const defaultBackoff = { baseMs: 500, capMs: 30_000 };

/** Attempts a 4002 (too many refused messages) starts at: "reconnect later, slower". */
const slowAttempts = 4;

/**
 * fullJitter is the delay before attempt `attempt` (0 first): uniform in
 * [0, min(cap, base·2^attempt)), so clients dropped together do not return
 * together.
 */
export function fullJitter(cfg: BackoffConfig, attempt: number): number {
  const ceiling = Math.min(cfg.capMs, cfg.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(cfg.random() * ceiling);
}

/**
 * closeAction maps a close code to the protocol's advice. `attempt` counts
 * failed attempts since the last welcome; `freshToken` says whether a new
 * token can be had (token given as a function), which turns 4100 from final
 * into "reconnect now".
 */
export function closeAction(code: number, attempt: number, freshToken: boolean, cfg: BackoffConfig): CloseAction {
  switch (code) {
    case 1000: // normal close
    case 1008: // policy violation
    case 1009: // frame too large: the client must be fixed
    case 4003: // disconnected by the server's API: the application decides
      return { retry: false };
    case 1012: // restarting: back at once, inside the grace
      return { retry: true, delayMs: Math.floor(cfg.random() * cfg.baseMs) };
    case 4002:
      return { retry: true, delayMs: fullJitter(cfg, Math.max(attempt, slowAttempts)) };
    case 4100:
      return freshToken ? { retry: true, delayMs: Math.floor(cfg.random() * cfg.baseMs) } : { retry: false };
  }
  if (code > 4100) return { retry: false };
  return { retry: true, delayMs: fullJitter(cfg, attempt) };
}
