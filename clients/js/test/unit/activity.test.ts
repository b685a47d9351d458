import { afterEach, describe, expect, it } from "vitest";
import { FakePage, FakeSocket } from "./fakes.js";
import { reconnect, start } from "./setup.js";

afterEach(() => {
  FakeSocket.all = [];
});

const idleMsgs = (ws: FakeSocket) => ws.take().filter((m) => m.type === "idle_state").map((m) => m.idle);

describe("activity detection", () => {
  it("reports active after going online, idle after idleAfterMs without input, active on a key", async () => {
    const page = new FakePage();
    const { clock, ws } = await start({ activity: page, idleAfterMs: 10_000 }, { heartbeat_interval_ms: 0 });
    ws.reply("set_online", { type: "ack" });
    expect(idleMsgs(ws)).toEqual([false]);
    clock.advance(6_000);
    page.input("pointermove"); // pushes the deadline on
    clock.advance(9_999);
    expect(idleMsgs(ws)).toEqual([]);
    clock.advance(1);
    expect(idleMsgs(ws)).toEqual([true]);
    page.input("keydown");
    expect(idleMsgs(ws)).toEqual([false]);
  });

  it("turns idle after the page is hidden for hiddenIdleAfterMs, and back when visible", async () => {
    const page = new FakePage();
    const { clock, ws } = await start({ activity: page, idleAfterMs: 300_000, hiddenIdleAfterMs: 5_000 }, { heartbeat_interval_ms: 0 });
    ws.take();
    page.setVisibility("hidden");
    clock.advance(4_999);
    expect(idleMsgs(ws)).toEqual([]);
    clock.advance(1);
    expect(idleMsgs(ws)).toEqual([true]);
    page.setVisibility("visible");
    expect(idleMsgs(ws)).toEqual([false]);
  });

  it("throttles input: one refresh a minute while input goes on, never one per event", async () => {
    const page = new FakePage();
    const { clock, ws } = await start({ activity: page }, { heartbeat_interval_ms: 0 });
    ws.take();
    for (let i = 0; i < 600; i++) {
      page.input(["pointermove", "wheel", "touchstart", "focus", "pointerdown"][i % 5]);
      clock.advance(200);
    }
    // 600 events over two minutes (set_online is not acked here, so no report at going online): one refresh at 60 s.
    expect(idleMsgs(ws)).toEqual([false]);
  });

  it("never sends a status of its own: a manual busy stays the user's", async () => {
    const page = new FakePage();
    const { c, clock, ws } = await start({ activity: page, idleAfterMs: 1_000 }, { heartbeat_interval_ms: 0 });
    void c.setStatus("busy");
    ws.take();
    clock.advance(1_000);
    page.input();
    expect(ws.take().map((m) => m.type)).toEqual(["idle_state", "idle_state"]);
  });

  it("reports the idle state held after a reconnect", async () => {
    const page = new FakePage();
    const { clock, ws } = await start({ activity: page, idleAfterMs: 1_000 }, { heartbeat_interval_ms: 0 });
    clock.advance(1_000);
    const ws2 = await reconnect(clock, ws);
    ws2.reply("set_online", { type: "ack" });
    expect(idleMsgs(ws2)).toEqual([true]);
  });

  it("uses passive listeners and removes every one on close", async () => {
    const page = new FakePage();
    const { c, clock } = await start({ activity: page });
    expect(page.listeners()).toBe(7);
    c.close();
    expect(page.listeners()).toBe(0);
    expect(clock.timers.size).toBe(0);
  });
});
