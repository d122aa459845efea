// server.mjs — starts `localm serve` on a free port for a test and stops it.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

const here = path.dirname(new URL(import.meta.url).pathname);
export const root = path.resolve(here, "../..");
export const bin = process.env.LOCALM_BIN || path.join(root, "build/bin/localm");
export const testdata = process.env.LOCALM_TESTDATA || path.resolve(root, "../shared/testdata");
export const outDir = process.env.LOCALM_E2E_OUT || path.join(root, "build/e2e");

// The reference model the API tests run on, or null (tests then skip).
export function referenceModel() {
  const m = path.join(testdata, "models/tiny-llama3-f16.gguf");
  if (!existsSync(m)) {
    console.log("skipped: reference data not found");
    return null;
  }
  return m;
}

export async function startServer(args, env = {}) {
  const child = spawn(bin, ["serve", ...args, "--port", "0"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 60000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
      if (m) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${m[1]}`);
      }
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });
  return {
    url,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const done = new Promise((r) => child.on("exit", (code) => r(code)));
      child.kill("SIGTERM");
      return done;
    },
  };
}
