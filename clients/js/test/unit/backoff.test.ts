import { describe, expect, it } from "vitest";
import { closeAction, fullJitter } from "../../src/backoff.js";

const cfg = (r: number) => ({ baseMs: 500, capMs: 30_000, random: () => r });

describe("backoff", () => {
  it("doubles the ceiling per attempt up to the cap, with full jitter", () => {
    expect([0, 1, 2, 3, 6, 7, 20].map((a) => fullJitter(cfg(0.9999), a))).toEqual([499, 999, 1999, 3999, 29997, 29997, 29997]);
    expect(fullJitter(cfg(0), 5)).toBe(0);
    expect(fullJitter(cfg(0.5), 2)).toBe(1000);
  });

  it("follows the protocol's close code table", () => {
    for (const code of [1000, 1008, 1009, 4003, 4101, 4200]) expect(closeAction(code, 0, true, cfg(0.5)).retry, String(code)).toBe(false);
    for (const code of [1006, 1011, 1013, 4000, 4001, 4004]) expect(closeAction(code, 3, false, cfg(0.9999)), String(code)).toEqual({ retry: true, delayMs: 3999 });
    // 1012: at once, with jitter below the base, whatever the attempt count.
    expect(closeAction(1012, 9, false, cfg(0.9999))).toEqual({ retry: true, delayMs: 499 });
    // 4100: a fresh token helps only when it can be had.
    expect(closeAction(4100, 0, true, cfg(0.5))).toEqual({ retry: true, delayMs: 250 });
    expect(closeAction(4100, 0, false, cfg(0.5)).retry).toBe(false);
    // 4002: later and slower than a first failure.
    expect(closeAction(4002, 0, false, cfg(0.9999))).toEqual({ retry: true, delayMs: 7999 });
  });
});
