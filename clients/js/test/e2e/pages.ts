// A page of a test user: a blank page of the server's origin that imports
// the SDK from /sdk/presenced.js, as any application would.
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll } from "vitest";
import { launch } from "../support/browser.js";
import { Server } from "../support/server.js";

export interface UserOptions {
  idleAfterMs?: number;
  hiddenIdleAfterMs?: number;
  device?: string;
}

/** setVisibility makes the page report itself hidden or visible, as a tab switch does. */
export function setVisibility(page: Page, state: "hidden" | "visible"): Promise<void> {
  return page.evaluate((s) => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => s });
    Object.defineProperty(document, "hidden", { configurable: true, get: () => s === "hidden" });
    document.dispatchEvent(new Event("visibilitychange"));
  }, state);
}

/** openUser opens a window of its own (a fresh context) for userId, connected. */
export async function openUser(browser: Browser, base: string, userId: string, o: UserOptions = {}): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.error(`[${userId}] page error:`, e));
  await page.goto(`${base}/healthz`);
  // A string, not a function: the test runner rewrites import() in functions.
  await page.evaluate(`(async () => {
    const { PresenceClient } = await import("/sdk/presenced.js");
    const pc = new PresenceClient({ url: "ws://" + location.host + "/v1/ws", userId: ${JSON.stringify(userId)}, device: "web", ...${JSON.stringify(o)} });
    window.pc = pc;
    window.seen = [];
    window.states = [];
    pc.on("presence", (p) => window.seen.push({ user_id: p.user_id, status: p.status, v: p.v }));
    pc.on("state", (s) => window.states.push(s));
    await pc.connect();
  })()`);
  return page;
}

/** until waits, in the page, for a condition over the page's client `pc`. */
export async function until(page: Page, cond: string, arg: unknown = null, timeout = 10_000): Promise<void> {
  await page.waitForFunction(new Function("arg", `const pc = window.pc; return (${cond});`) as any, arg, { timeout, polling: 25 });
}

/** statusOf reads the status a page holds for a user. */
export function statusOf(page: Page, userId: string): Promise<string | undefined> {
  return page.evaluate((id) => (window as any).pc.get(id)?.status, userId);
}

/** Env is a test file's server and browser, and the pages to close after each test. */
export interface Env {
  server: Server;
  browser: Browser;
  pages: Page[];
}

/** useEnv starts a server with args and a browser for the file, and closes what each test opened. */
export function useEnv(args: string[]): Env {
  const env = { pages: [] } as unknown as Env;
  beforeAll(async () => {
    [env.server, env.browser] = await Promise.all([Server.start({ args }), launch()]);
  });
  afterAll(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  afterEach(async () => {
    for (const p of env.pages.splice(0)) await p.context().close();
  });
  return env;
}
