import assert from "node:assert/strict";
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";

const workerProcess = fileURLToPath(new URL("../../src/nanny/worker-process.js", import.meta.url));

describe("nanny <-> worker child IPC (real process)", () => {
  // protects: a message from the nanny is checked by its parser before the child acts on it: a
  // malformed one ends the child with an error naming the field and what came (it used to be
  // taken as it was: a start with options "x" went on into Worker.start)
  it("a worker child given a malformed start says why and exits non-zero", async () => {
    const child = fork(workerProcess, [], { stdio: ["ignore", "ignore", "pipe", "ipc"] });
    try {
      let stderr = "";
      child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
      // "close": stdio read to its end (on "exit" the last of stderr may still be unread)
      const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
      child.send({ type: "start", options: "x", log: {} });
      const code = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 30_000).unref())]);
      assert.equal(code, 1);
      assert.match(stderr, /start: options must be a map, got \\"x\\"/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });
});
