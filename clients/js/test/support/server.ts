// Starts real presenced processes for the integration and browser tests:
// the binary is built from this repository once per test file.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
let built: Promise<string> | null = null;

/** buildServer runs `go build` for cmd/presenced into a temporary directory, once. */
export function buildServer(): Promise<string> {
  built ??= (async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "presenced-bin-"));
    const bin = path.join(dir, "presenced");
    await promisify(execFile)("go", ["build", "-o", bin, "./cmd/presenced"], { cwd: repoRoot, maxBuffer: 16 << 20 });
    return bin;
  })();
  return built;
}

export interface ServerOptions {
  /** addr to listen on; a free port when absent. */
  addr?: string;
  dataDir?: string;
  args?: string[];
  /** env adds environment variables (PRESENCED_* set flags). */
  env?: Record<string, string>;
}

/** Server is one running presenced process. */
export class Server {
  private exited: Promise<void>;
  log = "";
  private constructor(
    readonly proc: ChildProcess,
    readonly addr: string,
    readonly dataDir: string,
    readonly args: string[],
  ) {
    this.exited = new Promise((resolve) => proc.once("exit", () => resolve()));
  }

  get http(): string {
    return `http://${this.addr}`;
  }
  get ws(): string {
    return `ws://${this.addr}/v1/ws`;
  }

  /** start runs a node and resolves once it listens and reports ready. */
  static async start(opts: ServerOptions = {}): Promise<Server> {
    const bin = await buildServer();
    const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), "presenced-data-"));
    const args = opts.args ?? ["--dev"];
    const proc = spawn(bin, [...args, "--addr", opts.addr ?? "127.0.0.1:0", "--data-dir", dataDir], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, ...opts.env },
    });
    let log = "";
    const addr = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("presenced did not start within 30s:\n" + log)), 30_000);
      proc.stderr!.on("data", (b: Buffer) => {
        log += b.toString();
        const m = /msg="presenced listening" addr=(\S+)/.exec(log);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      proc.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`presenced exited with ${code}:\n${log}`));
      });
    });
    const s = new Server(proc, addr, dataDir, args);
    proc.stderr!.on("data", (b: Buffer) => {
      s.log += b.toString();
    });
    await waitFor(async () => (await fetch(`${s.http}/readyz`).catch(() => null))?.ok === true, 10_000, "readyz");
    return s;
  }

  /** restart starts a node on the same address and data directory. */
  restart(): Promise<Server> {
    return Server.start({ addr: this.addr, dataDir: this.dataDir, args: this.args });
  }

  /** kill ends the process with a signal (SIGKILL: no goodbye to anyone) and waits for it. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    await this.exited;
  }

  /** stop ends the process and removes its data directory. */
  async stop(): Promise<void> {
    await this.kill("SIGTERM");
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** waitFor polls cond until it holds or the deadline passes. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
