// Finds and launches the machine's Chromium for the browser tests. Nothing
// here downloads a browser: a missing one is an error that says how to
// install it.
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

const candidates = ["/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser"];

/** chromiumPath is $PRESENCED_CHROMIUM, or Debian's chromium binary. */
export function chromiumPath(): string {
  const env = process.env.PRESENCED_CHROMIUM;
  if (env) {
    if (!existsSync(env)) throw new Error(`PRESENCED_CHROMIUM=${env} does not exist`);
    return env;
  }
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      "the browser tests need Chromium and found none (" + candidates.join(", ") + "): " +
        "install it with `sudo apt-get install chromium`, or point PRESENCED_CHROMIUM at a Chromium binary",
    );
  }
  return found;
}

/** launch starts a headless Chromium with a fresh profile and no background traffic. */
export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}
