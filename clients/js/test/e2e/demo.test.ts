import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launch } from "../support/browser.js";
import { Server } from "../support/server.js";

// The demo page driven through its UI by two users. Screenshots go to
// $PRESENCED_ARTIFACTS (default: a directory under the system's temp);
// with PRESENCED_UPDATE_SCREENSHOT=1 the side-by-side one also replaces
// docs/demo.png.
const artifacts = process.env.PRESENCED_ARTIFACTS ?? path.join(os.tmpdir(), "presenced-e2e");
const docsPNG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../docs/demo.png");

let server: Server;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  [server, browser] = await Promise.all([Server.start({ args: ["--dev"] }), launch()]);
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function signIn(name: string, contacts: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 820, height: 900 }, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(server.http + "/");
  await page.fill("#login-name", name);
  await page.fill("#login-contacts", contacts);
  await page.click("#login-go");
  await page.waitForSelector("body[data-ready=true]");
  expect(errors).toEqual([]);
  return page;
}

describe("the demo page", () => {
  it("shows a status chosen in one window live in the other", async () => {
    const alice = await signIn("alice", "bob, carol, dave");
    const bob = await signIn("bob", "alice, carol, dave");
    await bob.waitForSelector('li[data-user=alice][data-status=online]');
    await alice.waitForSelector('li[data-user=bob][data-status=online]');

    await alice.click('#status-picker button[data-status=busy]');
    await alice.selectOption("#activity", "in_meeting");
    await alice.fill("#custom-emoji", "📊");
    await alice.fill("#custom-text", "Quarterly review");
    await alice.click("#custom-save");
    await bob.waitForSelector('li[data-user=alice][data-status=busy]');
    await bob.waitForFunction(() => document.querySelector("li[data-user=alice] .line")?.textContent?.includes("Quarterly review"));

    await bob.click('#mode-picker button[data-mode=editing]');
    await alice.waitForSelector('.member[data-member=bob][data-mode=editing]');
    await bob.waitForSelector('.member[data-member=alice]');
    await pointAt(bob, 0.55, 0.5);
    await pointAt(bob, 0.6, 0.55);
    await alice.waitForSelector('.cursor[data-cursor=bob]');
    await pointAt(alice, 0.2, 0.3);
    await pointAt(alice, 0.25, 0.35);
    await bob.waitForSelector('.cursor[data-cursor=alice]');

    // Back the other way: bob's away shows in alice's list.
    await bob.click('#status-picker button[data-status=away]');
    await alice.waitForSelector('li[data-user=bob][data-status=away]');

    const shots = await Promise.all([alice.screenshot({ fullPage: true }), bob.screenshot({ fullPage: true })]);
    writeFileSync(path.join(artifacts, "demo-alice.png"), shots[0]);
    writeFileSync(path.join(artifacts, "demo-bob.png"), shots[1]);
    const side = await sideBySide(shots[0], shots[1]);
    writeFileSync(path.join(artifacts, "demo-side-by-side.png"), side);
    if (process.env.PRESENCED_UPDATE_SCREENSHOT === "1") writeFileSync(docsPNG, side);
    expect(readFileSync(path.join(artifacts, "demo-side-by-side.png")).length).toBeGreaterThan(10_000);
  });
});

/** pointAt moves the pointer over the document, at a fraction of its size. */
async function pointAt(page: Page, fx: number, fy: number): Promise<void> {
  const paper = page.locator("#paper");
  await paper.scrollIntoViewIfNeeded();
  const box = (await paper.boundingBox())!;
  await paper.hover({ position: { x: box.width * fx, y: box.height * fy } });
}

/** sideBySide lays two screenshots next to each other, as two windows. */
async function sideBySide(left: Buffer, right: Buffer): Promise<Buffer> {
  const ctx = await browser.newContext({ viewport: { width: 1690, height: 900 }, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  const img = (b: Buffer, who: string) =>
    `<figure><figcaption>${who}</figcaption><img src="data:image/png;base64,${b.toString("base64")}"></figure>`;
  await page.setContent(`<style>body{margin:0;background:#dfe3ec;display:flex;gap:16px;padding:16px;font:13px system-ui}
    figure{margin:0;border-radius:10px;overflow:hidden;box-shadow:0 4px 18px #0002;background:#fff}
    figcaption{padding:6px 12px;background:#2a2f3d;color:#fff}img{display:block;width:820px}</style>
    ${img(left, "Window 1 — alice")}${img(right, "Window 2 — bob")}`);
  await page.waitForFunction(() => [...document.images].every((i) => i.complete));
  const out = await page.screenshot({ fullPage: true });
  await ctx.close();
  return out;
}
