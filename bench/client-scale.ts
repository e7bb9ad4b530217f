/**
 * The client's cost per future (issue 15, point 5): a scheduler in its own process (no workers,
 * so every task stays queued), this process a client that maps N trivial tasks. Prints the
 * client's CPU per map call (the call itself, then its flush: encoding and sending the
 * update-graph, and one request's round trip), and its heap per future after gc() while it
 * holds the N futures, then after it let them go. Run with `node --expose-gc dist/bench/client-scale.js [N...]` (default 100000).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import v8 from "node:v8";
import { fileURLToPath } from "node:url";
import { Client, type Future } from "../src/index.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc dist/bench/client-scale.js");
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function heap(): number {
  gc!();
  gc!();
  return v8.getHeapStatistics().used_heap_size;
}
const cpu = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
const settle = () => new Promise((r) => setTimeout(r, 50));

const sizes = process.argv.slice(2).map(Number);
const dir = mkdtempSync(path.join(tmpdir(), "client-scale-"));
const file = path.join(dir, "scheduler.json");
const child = spawn(
  process.execPath,
  ["--max-old-space-size=6144", path.join(root, "bin/dask-scheduler-ts.js"), "--scheduler-file", file, "--host", "127.0.0.1", "--no-dashboard", "--log-level", "warn"],
  { cwd: root, stdio: ["ignore", "ignore", "inherit"], detached: true },
);
process.once("exit", () => {
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    // gone
  }
});
for (let i = 0; ; i++) {
  try {
    JSON.parse(readFileSync(file, "utf8"));
    break;
  } catch {
    if (i > 600) throw new Error("no scheduler file");
    await new Promise((r) => setTimeout(r, 50));
  }
}
const client = await Client.connect({ schedulerFile: file });
for (const n of sizes.length ? sizes : [100_000]) {
  const items = Array.from({ length: n }, (_, i) => i);
  const base = heap();
  const c0 = cpu();
  let futures: Array<Future<number>> | undefined = client.map((x: number) => x + 1, items);
  const c1 = cpu();
  const unflushed = heap() - base; // futures and the specs waiting for the flush
  const c2a = cpu();
  // the flush, a message per turn (a request now would send the rest at once)
  await new Promise((r) => setTimeout(r, 50 + n / 200));
  await client.schedulerInfo(); // the scheduler has them all (FIFO)
  const c2 = cpu() - (c2a - c1);
  const held = heap() - base;
  futures.forEach((f) => f.release());
  futures = undefined;
  await settle();
  const after = heap() - base;
  console.log(JSON.stringify({
    n,
    mapCpuUsPerTask: +((c1 - c0) / n).toFixed(2),
    flushCpuUsPerTask: +((c2 - c1) / n).toFixed(2),
    heapPerFutureBeforeFlush: Math.round(unflushed / n),
    heapPerFuture: Math.round(held / n),
    heapAfterReleasePerTask: Math.round(after / n),
  }));
}
await client.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
