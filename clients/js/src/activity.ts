import type { Clock } from "./types.js";

/** The event targets the monitor listens on; a browser's window and document. */
export interface ActivityTargets {
  window: Pick<EventTarget, "addEventListener" | "removeEventListener">;
  document: Pick<EventTarget, "addEventListener" | "removeEventListener"> & { visibilityState?: string };
}

export interface ActivityConfig {
  targets: ActivityTargets;
  clock: Clock;
  idleAfterMs: number;
  hiddenIdleAfterMs: number;
  /**
   * refreshMs: while input goes on, idle:false is reported again at most this
   * often, because the server turns a session idle by itself when it hears
   * nothing for its --away-after.
   */
  refreshMs: number;
  /** report receives every change of the idle state and the refreshes. */
  report: (idle: boolean) => void;
}

const inputEvents = ["pointermove", "pointerdown", "keydown", "wheel", "touchstart", "focus"];
const listenOpts: AddEventListenerOptions = { passive: true, capture: true };

/**
 * ActivityMonitor decides whether the user is idle: no input for idleAfterMs,
 * or the page hidden for hiddenIdleAfterMs. An input event only stores a
 * time (the listeners are passive and cost nothing on a busy page); one timer,
 * set for the next deadline, does the rest.
 */
export class ActivityMonitor {
  private idle = false;
  private lastInput: number;
  private lastReport = -Infinity;
  private hiddenSince: number | null = null;
  private timer: unknown = null;
  private stopped = false;

  constructor(private readonly cfg: ActivityConfig) {
    this.lastInput = this.lastReport = cfg.clock.now();
    for (const ev of inputEvents) cfg.targets.window.addEventListener(ev, this.onInput, listenOpts);
    cfg.targets.document.addEventListener("visibilitychange", this.onVisibility, listenOpts);
    if (cfg.targets.document.visibilityState === "hidden") this.hiddenSince = this.lastInput;
    this.evaluate();
  }

  /** isIdle reports the current state. */
  isIdle(): boolean {
    return this.idle;
  }

  /** stop removes every listener and the timer; the monitor is done. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const ev of inputEvents) this.cfg.targets.window.removeEventListener(ev, this.onInput, listenOpts);
    this.cfg.targets.document.removeEventListener("visibilitychange", this.onVisibility, listenOpts);
    this.clearTimer();
  }

  private readonly onInput = (): void => {
    const now = this.cfg.clock.now();
    this.lastInput = now;
    if (this.idle) this.evaluate();
    else if (now - this.lastReport >= this.cfg.refreshMs) this.send(false, now);
  };

  private readonly onVisibility = (): void => {
    const now = this.cfg.clock.now();
    if (this.cfg.targets.document.visibilityState === "hidden") {
      this.hiddenSince = now;
    } else {
      this.hiddenSince = null;
      this.lastInput = now;
    }
    this.evaluate();
  };

  private evaluate(): void {
    if (this.stopped) return;
    const { clock, idleAfterMs, hiddenIdleAfterMs } = this.cfg;
    const now = clock.now();
    let deadline = this.lastInput + idleAfterMs;
    if (this.hiddenSince !== null) deadline = Math.min(deadline, this.hiddenSince + hiddenIdleAfterMs);
    const idle = now >= deadline;
    if (idle !== this.idle) {
      this.idle = idle;
      this.send(idle, now);
    }
    this.clearTimer();
    if (!idle) this.timer = clock.setTimeout(() => this.evaluate(), deadline - now);
  }

  private send(idle: boolean, now: number): void {
    this.lastReport = now;
    this.cfg.report(idle);
  }

  private clearTimer(): void {
    if (this.timer !== null) this.cfg.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
