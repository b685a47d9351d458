import { describe, expect, it } from "vitest";
import { openUser, setVisibility, until, useEnv, type UserOptions } from "./pages.js";

const env = useEnv(["--dev", "--offline-grace", "5s"]);

let n = 0;
const uniq = (name: string) => `${name}${++n}`;

async function pair(o: UserOptions = {}) {
  const a = uniq("alice");
  const b = uniq("bob");
  const pa = await openUser(env.browser, env.server.http, a, o);
  const pb = await openUser(env.browser, env.server.http, b);
  env.pages.push(pa, pb);
  await pa.evaluate((id) => (window as any).pc.subscribe([id]), b);
  await pb.evaluate((id) => (window as any).pc.subscribe([id]), a);
  // Each sees the other present (a short idle threshold may already show away).
  await until(pa, "pc.get(arg)?.status === 'online'", b);
  await until(pb, "['online', 'away'].includes(pc.get(arg)?.status)", a);
  return { a, b, pa, pb };
}

describe("the SDK in Chromium", () => {
  it("serves the bundle as JavaScript with an ETag", async () => {
    const r = await fetch(`${env.server.http}/sdk/presenced.js`);
    expect(r.headers.get("content-type")).toMatch(/^text\/javascript/);
    const etag = r.headers.get("etag")!;
    const again = await fetch(`${env.server.http}/sdk/presenced.js`, { headers: { "If-None-Match": etag } });
    expect(again.status).toBe(304);
  });

  it("shows status changes both ways", async () => {
    const { a, b, pa, pb } = await pair();
    await pa.evaluate(() => (window as any).pc.setStatus("busy", { customStatus: "Focus", customEmoji: "🎧", activity: "focus" }));
    await until(pb, "pc.get(arg)?.status === 'busy' && pc.get(arg)?.custom_emoji === '🎧' && pc.get(arg)?.activity === 'focus'", a);
    await pb.evaluate(() => (window as any).pc.setStatus("away"));
    await until(pa, "pc.get(arg)?.status === 'away'", b);
    await pa.evaluate(() => (window as any).pc.setStatus("online"));
    await until(pb, "pc.get(arg)?.status === 'online'", a);
  });

  it("goes away when idle and comes back on a key press", async () => {
    const { a, pa, pb } = await pair({ idleAfterMs: 1500 });
    await until(pb, "pc.get(arg)?.status === 'away' && pc.get(arg)?.idle === true", a);
    await pa.keyboard.press("a");
    await until(pb, "pc.get(arg)?.status === 'online' && pc.get(arg)?.idle === false", a);
  });

  it("goes away when the tab is hidden, and back when it is shown", async () => {
    const { a, pa, pb } = await pair({ hiddenIdleAfterMs: 1000 });
    await setVisibility(pa, "hidden");
    await until(pb, "pc.get(arg)?.status === 'away'", a);
    await setVisibility(pa, "visible");
    await until(pb, "pc.get(arg)?.status === 'online'", a);
  });

  it("folds several tabs: away only when every tab is idle", async () => {
    const { a, pa, pb } = await pair({ hiddenIdleAfterMs: 500, device: "laptop" });
    const second = await openUser(env.browser, env.server.http, a, { hiddenIdleAfterMs: 500, device: "tablet" });
    env.pages.push(second);
    await until(pb, "pc.get(arg)?.devices?.length === 2", a);
    await setVisibility(pa, "hidden");
    await until(pb, "pc.get(arg)?.devices?.find((d) => d.device === 'laptop')?.idle === true", a);
    expect(await pb.evaluate((id) => (window as any).pc.get(id).status, a)).toBe("online");
    await setVisibility(second, "hidden");
    await until(pb, "pc.get(arg)?.status === 'away' && pc.get(arg)?.idle === true", a);
    await setVisibility(second, "visible");
    await until(pb, "pc.get(arg)?.status === 'online'", a);
  });

  it("clears a custom status when it expires", async () => {
    const { a, pa, pb } = await pair();
    await pa.evaluate(() => (window as any).pc.setStatus("online", { customStatus: "Lunch", customEmoji: "🍔", customStatusExpiresAt: Date.now() / 1000 + 2 }));
    await until(pb, "pc.get(arg)?.custom_status === 'Lunch'", a);
    await until(pb, "pc.get(arg)?.custom_status === null && pc.get(arg)?.custom_emoji === null", a, 10_000);
  });

  it("hides an invisible user and shows them again", async () => {
    const { a, pa, pb } = await pair();
    await pa.evaluate(() => (window as any).pc.setStatus("invisible"));
    await until(pb, "pc.get(arg)?.status === 'offline'", a);
    const own = await pa.evaluate(async (id) => (await (window as any).pc.subscribe([id])).get(id), a);
    expect(own.invisible).toBe(true);
    await pa.evaluate(() => (window as any).pc.setStatus("online"));
    await until(pb, "pc.get(arg)?.status === 'online'", a);
  });

  it("shares a room with members, modes and cursors", async () => {
    const { a, b, pa, pb } = await pair();
    const room = uniq("doc:");
    for (const p of [pa, pb]) {
      await p.evaluate(async (r) => {
        const w = window as any;
        w.room = await w.pc.joinRoom(r, { mode: "viewing" });
        w.cursors = [];
        w.room.on("cursor", (c: any) => w.cursors.push(c.cursor));
      }, room);
    }
    await until(pa, "window.room.members.size === 2 && window.room.count === 2");
    await pb.evaluate(() => (window as any).room.updateMeta({ mode: "editing" }));
    await until(pa, "window.room.members.get(arg)?.connections[0].meta.mode === 'editing'", b);
    await pb.evaluate(() => {
      for (let i = 0; i <= 50; i++) (window as any).room.sendCursor({ x: i, y: 2 * i });
    });
    await until(pa, "window.cursors.length > 0 && window.cursors.at(-1).x === 50 && window.cursors.at(-1).y === 100");
    expect(await pa.evaluate(() => (window as any).cursors.length)).toBeLessThan(51);
    await pb.evaluate(() => (window as any).room.leave());
    await until(pa, "!window.room.members.has(arg) && window.room.count === 1", b);
    expect(a).toBeTruthy();
  });
});
