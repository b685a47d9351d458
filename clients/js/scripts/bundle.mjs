// Builds the browser bundle dist/presenced.js (one minified ESM file) that
// the server embeds and serves at /sdk/presenced.js. `--out FILE` writes
// elsewhere (the check that the committed bundle equals a fresh build).
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const i = process.argv.indexOf("--out");
const outfile = i > 0 ? process.argv[i + 1] : path.join(root, "dist", "presenced.js");

await build({
  entryPoints: [path.join(root, "src", "index.ts")],
  outfile,
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2020",
  platform: "browser",
  legalComments: "none",
  logLevel: "warning",
});
