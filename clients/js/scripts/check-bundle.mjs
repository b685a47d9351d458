// Fails when the committed dist/presenced.js differs from a fresh build of
// src/, or when its min+gzip size passes the budget. Prints the size.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { gzipSync } from "node:zlib";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The budget of the bundle, min+gzip. */
export const budgetBytes = 6 * 1024;

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const committedPath = path.join(root, "dist", "presenced.js");
const tmp = mkdtempSync(path.join(os.tmpdir(), "presenced-bundle-"));
try {
  const fresh = path.join(tmp, "presenced.js");
  execFileSync(process.execPath, [path.join(root, "scripts", "bundle.mjs"), "--out", fresh], { stdio: "inherit" });
  const a = readFileSync(committedPath);
  const b = readFileSync(fresh);
  if (!a.equals(b)) {
    console.error(`clients/js/dist/presenced.js differs from a fresh build of src/: run "npm run build" in clients/js and commit dist/`);
    process.exit(1);
  }
  const gz = gzipSync(a, { level: 9 }).length;
  console.log(`presenced.js: ${a.length} bytes minified, ${gz} bytes min+gzip (budget ${budgetBytes})`);
  if (gz > budgetBytes) {
    console.error(`presenced.js is ${gz} bytes min+gzip, over the ${budgetBytes}-byte budget`);
    process.exit(1);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
