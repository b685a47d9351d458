import type { Clock } from "./types.js";

export interface OutboxConfig {
  clock: Clock;
  /** ratePerSecond and burst stay under the server's --rate-limit (20) and --rate-burst (50). */
  ratePerSecond: number;
  burst: number;
  write: (frame: string) => void;
}

/**
 * Outbox paces the frames a connection sends with a token bucket a little
 * under the server's, so that a burst (the restore after a reconnect, an
 * application subscribing in a loop) is delayed instead of refused with
 * rate_limited. Frames keep their order; none is dropped while the
 * connection lives. Cursors do not pass here: the server gives them an
 * allowance of their own.
 */
export class Outbox {
  private tokens: number;
  private refilledAt: number;
  private queue: string[] = [];
  private timer: unknown = null;

  constructor(private readonly cfg: OutboxConfig) {
    this.tokens = cfg.burst;
    this.refilledAt = cfg.clock.now();
  }

  send(frame: string): void {
    this.refill();
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens--;
      this.cfg.write(frame);
      return;
    }
    this.queue.push(frame);
    this.schedule();
  }

  /** reset forgets queued frames and refills the bucket: a new connection has a fresh allowance. */
  reset(): void {
    this.queue = [];
    if (this.timer !== null) this.cfg.clock.clearTimeout(this.timer);
    this.timer = null;
    this.tokens = this.cfg.burst;
    this.refilledAt = this.cfg.clock.now();
  }

  /** queued reports how many frames wait. */
  queued(): number {
    return this.queue.length;
  }

  private refill(): void {
    const now = this.cfg.clock.now();
    this.tokens = Math.min(this.cfg.burst, this.tokens + ((now - this.refilledAt) * this.cfg.ratePerSecond) / 1000);
    this.refilledAt = now;
  }

  private schedule(): void {
    if (this.timer !== null) return;
    const waitMs = Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.cfg.ratePerSecond));
    this.timer = this.cfg.clock.setTimeout(() => {
      this.timer = null;
      this.refill();
      while (this.queue.length && this.tokens >= 1) {
        this.tokens--;
        this.cfg.write(this.queue.shift()!);
      }
      if (this.queue.length) this.schedule();
    }, waitMs);
  }
}
