/**
 * Node receive paths over loopback TCP, sending side: starts receiver.js as a second Node process, then, per
 * repetition, connects over 127.0.0.1, writes one 256 MiB Buffer and waits for the receiver's
 * one-byte answer that all of it arrived. Prints MiB/s per repetition. This is the most two
 * Node processes on this machine can move over loopback TCP when the receiver only counts the
 * bytes; the receiver's other ports keep them (into fresh memory, into pre-touched memory): Node's
 * own receive paths, beside the machine's memory-copy bandwidth measured here too.
 * Then 1,000 one-byte ping-pongs on the receiver's echo port: the floor for a round trip.
 */
import { fork } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { emit, now, percentile, runs } from "../fixtures/common.js";

const MIB = 256;
const bytes = MIB * 1024 * 1024;
const here = path.dirname(fileURLToPath(import.meta.url));
const receiver = fork(path.join(here, "receiver.js"), [String(bytes)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
const deadline = setTimeout(() => {
  process.stderr.write("raw tcp: no result within 60 s\n");
  receiver.kill("SIGKILL");
  process.exit(1);
}, 60_000);

type Ports = { port: number; keepPort: number; touchedPort: number; echoPort: number };
const { port, keepPort, touchedPort, echoPort } = await new Promise<Ports>((resolve, reject) => {
  receiver.once("message", (m) => resolve(m as Ports));
  receiver.once("exit", (code) => reject(new Error(`receiver exited with ${code} before listening`)));
});
const payload = Buffer.alloc(bytes, 7);

function once(port: number): Promise<number> {
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

await once(port); // warm-up
const mibs: number[] = [];
const keptMibs: number[] = [];
const touchedMibs: number[] = [];
for (let r = 0; r < runs(); r++) {
  mibs.push(await once(port));
  keptMibs.push(await once(keepPort));
  touchedMibs.push(await once(touchedPort));
}

/**
 * The machine's memory-copy bandwidth in one Node thread: 256 MiB copied into a buffer already
 * touched, and into fresh shared memory (page faults included), MiB/s.
 */
const target = Buffer.alloc(bytes, 1);
const copyMibs: number[] = [];
const copyFreshMibs: number[] = [];
payload.copy(target); // warm-up
for (let r = 0; r < runs(); r++) {
  let t0 = now();
  payload.copy(target);
  copyMibs.push(MIB / ((now() - t0) / 1000));
  t0 = now();
  new Uint8Array(new SharedArrayBuffer(bytes)).set(payload);
  copyFreshMibs.push(MIB / ((now() - t0) / 1000));
}

/** p50 of one-byte round trips, in microseconds. */
async function pingPong(n: number): Promise<number> {
  const socket = net.connect(echoPort, "127.0.0.1");
  socket.setNoDelay(true);
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    socket.write(Buffer.of(i & 255));
    await new Promise((resolve) => socket.once("data", resolve));
    times.push((now() - t0) * 1000);
  }
  socket.destroy();
  return percentile(times.slice(100), 50);
}

const pingUs: number[] = [];
for (let r = 0; r < runs(); r++) pingUs.push(await pingPong(1_100));
clearTimeout(deadline);
receiver.disconnect();
emit({ mibs, keptMibs, touchedMibs, copyMibs, copyFreshMibs, pingUs });
