/**
 * Raw-TCP ceiling, sending side: starts receiver.js as a second Node process, then, per
 * repetition, connects over 127.0.0.1, writes one 256 MiB Buffer and waits for the receiver's
 * one-byte answer that all of it arrived. Prints MiB/s per repetition. This is the most two
 * Node processes on this machine can move over loopback TCP: the ceiling for worker-to-worker.
 */
import { fork } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { emit, now, runs } from "../fixtures/common.js";

const MIB = 256;
const bytes = MIB * 1024 * 1024;
const here = path.dirname(fileURLToPath(import.meta.url));
const receiver = fork(path.join(here, "receiver.js"), [String(bytes)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
const deadline = setTimeout(() => {
  process.stderr.write("raw tcp: no result within 60 s\n");
  receiver.kill("SIGKILL");
  process.exit(1);
}, 60_000);

const port = await new Promise<number>((resolve, reject) => {
  receiver.once("message", (m) => resolve((m as { port: number }).port));
  receiver.once("exit", (code) => reject(new Error(`receiver exited with ${code} before listening`)));
});
const payload = Buffer.alloc(bytes, 7);

function once(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const socket = net.connect(port, "127.0.0.1", () => socket.write(payload));
    socket.once("data", (ack) => {
      const ms = now() - t0;
      socket.destroy();
      if (ack[0] === 1) resolve(MIB / (ms / 1000));
      else reject(new Error("receiver got the wrong number of bytes"));
    });
    socket.once("error", reject);
  });
}

await once(); // warm-up
const mibs: number[] = [];
for (let r = 0; r < runs(); r++) mibs.push(await once());
clearTimeout(deadline);
receiver.disconnect();
emit({ mibs });
