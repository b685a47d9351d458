import type { Clock } from "./types.js";

export interface HeartbeatConfig {
  clock: Clock;
  /** needed reports whether the connection is a session that needs heartbeats now. */
  needed: () => boolean;
  /** lastSent is when the client last sent any frame. */
  lastSent: () => number;
  send: () => void;
}

/**
 * Heartbeat sends `heartbeat` every interval of the welcome, but only when
 * nothing else went out during it (any frame is a sign of life) and only
 * while the connection is a presence session: a watcher needs none.
 */
export class Heartbeat {
  private timer: unknown = null;

  constructor(private readonly cfg: HeartbeatConfig) {}

  start(intervalMs: number): void {
    this.stop();
    if (!(intervalMs > 0)) return;
    const { clock } = this.cfg;
    const tick = () => {
      const needed = this.cfg.needed();
      if (needed && clock.now() - this.cfg.lastSent() >= intervalMs) this.cfg.send();
      const next = needed ? Math.max(this.cfg.lastSent() + intervalMs - clock.now(), 1) : intervalMs;
      this.timer = clock.setTimeout(tick, next);
    };
    this.timer = clock.setTimeout(tick, intervalMs);
  }

  stop(): void {
    if (this.timer !== null) this.cfg.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
