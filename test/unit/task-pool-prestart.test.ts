// The task thread a process starts before its worker (executor.ts prestartThread: a nanny's
// child while it waits for its start message, a --no-nanny rank before MPI_Init). Real
// threads in a child process: the spare is the process's first thread, so its threadId is 1.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src");

/** Run an ES module body in a fresh Node process; its stdout and exit code, within 30 s. */
function runModule(body: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // a file, not `--input-type=module -e`: threads inherit the flag, and it refuses a file
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prestart-"));
  const file = path.join(dir, "main.mjs");
  fs.writeFileSync(file, body);
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [file], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the child did not exit within 30 s\n${stdout}\n${stderr}`));
    }, 30_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  }).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}

const imports = `
  import { prestartThread, spareSettled, TaskPool } from ${JSON.stringify(path.join(src, "worker/executor.js"))};
  import { encodeFunction } from ${JSON.stringify(path.join(src, "protocol/functions.js"))};
  import { encodeWithRaws, decodeWithRaws } from ${JSON.stringify(path.join(src, "protocol/msgpack.js"))};
`;

describe("a task thread started before its pool", function () {
  this.timeout(60_000);

  // Protects: an unref'd spare, or one the pool never takes, would keep a process that never
  // starts its worker alive (a nanny child told to close before it started)
  it("keeps no process alive when no pool takes it", async () => {
    const r = await runModule(`${imports}
      prestartThread();
      console.log("started");`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /started/);
  });

  // Protects: a pool that ignored the spare would start a second thread (threadId 2), and the
  // spare's start-up would have been for nothing; a pool that took it before it was up, or
  // after, must still run tasks on it
  for (const when of ["before", "after"] as const) {
    it(`is the pool's first thread when the pool starts ${when} the spare is up, and runs its tasks`, async () => {
      const r = await runModule(`${imports}
        prestartThread();
        ${when === "after" ? "await spareSettled();" : ""}
        const pool = new TaskPool(1);
        const fn = encodeFunction(async (x) => [x + 1, (await import("node:worker_threads")).threadId]);
        const { head, raws } = encodeWithRaws([41], 64 * 1024);
        pool.run({ key: "k", fn, args: [head, ...raws], deps: new Map() }, (r) => {
          if (!r.ok) throw new Error(r.error.message);
          console.log("RESULT " + JSON.stringify(decodeWithRaws(r.parts[0], r.parts.slice(1))));
          pool.close();
        });`);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^RESULT \[42,1\]$/m, r.stdout + r.stderr);
    });
  }
});
