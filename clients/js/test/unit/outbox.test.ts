import { afterEach, describe, expect, it } from "vitest";
import { Outbox } from "../../src/outbox.js";
import { FakeClock, FakeSocket } from "./fakes.js";
import { reconnect, start } from "./setup.js";

afterEach(() => {
  FakeSocket.all = [];
});

describe("outbox", () => {
  it("sends a burst at once, then paces the rest in order", () => {
    const clock = new FakeClock();
    const out: string[] = [];
    const box = new Outbox({ clock, ratePerSecond: 10, burst: 5, write: (f) => out.push(f) });
    for (let i = 0; i < 25; i++) box.send(String(i));
    expect(out).toEqual(["0", "1", "2", "3", "4"]);
    clock.advance(1000);
    expect(out.length).toBe(15);
    clock.advance(1000);
    expect(out).toEqual(Array.from({ length: 25 }, (_, i) => String(i)));
    expect(clock.timers.size).toBe(0);
    // A quiet second refills the bucket.
    clock.advance(1000);
    for (let i = 0; i < 5; i++) box.send("x");
    expect(out.length).toBe(30);
  });

  it("forgets what waits on reset", () => {
    const clock = new FakeClock();
    const out: string[] = [];
    const box = new Outbox({ clock, ratePerSecond: 10, burst: 1, write: (f) => out.push(f) });
    box.send("a");
    box.send("b");
    box.reset();
    expect(box.queued()).toBe(0);
    expect(clock.timers.size).toBe(0);
    box.send("c");
    expect(out).toEqual(["a", "c"]);
  });
});

describe("the client's pacing", () => {
  it("keeps a restore of many rooms under the server's rate, and sends all of it", async () => {
    const { c, clock, ws } = await start({}, { heartbeat_interval_ms: 0 });
    for (let i = 0; i < 60; i++) {
      const jr = c.joinRoom(`r${i}`);
      ws.reply("join_room", { type: "room_state", room: `r${i}`, members: [], next: null, count: 1, v: 1 });
      clock.advance(100);
      await jr;
    }
    const ws2 = await reconnect(clock, ws);
    expect(ws2.sent.length).toBe(40);
    clock.advance(1000);
    expect(ws2.sent.length).toBe(58);
    clock.advance(2000);
    expect(ws2.sent.filter((m) => m.type === "join_room").length).toBe(60);
    expect(ws2.sent[0].type).toBe("set_online");
  });

  it("does not pace cursors", async () => {
    const { c, ws, clock } = await start({ messageBurst: 1 }, { heartbeat_interval_ms: 0 });
    const jr = c.joinRoom("doc");
    clock.advance(1000);
    ws.reply("join_room", { type: "room_state", room: "doc", members: [], next: null, count: 1, v: 1 });
    const room = await jr;
    void c.getPrivacy();
    void c.getPrivacy(); // waits in the outbox
    ws.take();
    room.sendCursor({ x: 1 });
    expect(ws.take()).toEqual([{ type: "cursor", room: "doc", cursor: { x: 1 } }]);
  });
});
