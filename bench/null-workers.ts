/**
 * Null workers (bench only, not shipped): endpoints that speak the real worker protocol to a
 * real scheduler but run nothing. Each registers (with a listener of its own, which the
 * scheduler probes on registration), heartbeats like a worker, and answers every compute-task
 * at once with task-finished carrying an inline `null` result, so clients gather without
 * fetching from it. free-keys and scheduler-closing need nothing (it holds no values). Many
 * live in one process: what is measured through them is the scheduler.
 *
 * As a process: `node dist/bench/null-workers.js SCHEDULER_FILE N [NTHREADS]` registers N
 * null workers, prints `NULL_WORKERS {"n":N,"registeredMs":..}`, answers a line "cpu" on stdin
 * with `NULL_CPU <us>` (its CPU time so far), and closes them all when stdin ends.
 */
import { hostname } from "node:os";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { connect, listen } from "../src/comm/connect.js";
import { Rpc, routes } from "../src/comm/rpc.js";
import { readSchedulerFile } from "../src/comm/scheduler-file.js";
import type { Listener } from "../src/comm/types.js";
import { schedulerToWorkerParsers } from "../src/protocol/messages-worker.js";
import { Sent, encodeWithRaws } from "../src/protocol/msgpack.js";
import { RAW_PART_BYTES } from "../src/protocol/frames.js";
import { Op } from "../src/protocol/ops.js";

/** Every task's result: `null`, encoded once as a task thread would. */
const NULL_RESULT: Uint8Array[] = [new Uint8Array(encodeWithRaws(null, RAW_PART_BYTES, Sent.result).head)];
const NULL_BYTES = NULL_RESULT[0]!.byteLength;

export interface NullWorkerOptions {
  /** Threads it claims: how many tasks the scheduler hands it at once (default 1). */
  nthreads?: number;
  /** Default 1000 ms, as a real worker's. */
  heartbeatMs?: number;
}

export class NullWorker {
  address = "";
  /** compute-task messages answered */
  finished = 0;
  #listener: Listener | undefined;
  #rpc: Rpc | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #schedulerBeatMs = 0;

  constructor(
    readonly name: string,
    readonly scheduler: { address: string; secret: string },
    readonly opts: NullWorkerOptions = {},
  ) {}

  /** Listen (the scheduler probes the address), connect, register. */
  async start(): Promise<void> {
    const { address, secret } = this.scheduler;
    // peers connect only to probe reachability: accepted after the handshake, then left to close
    this.#listener = await listen({ host: "127.0.0.1" }, secret, () => {});
    this.address = this.#listener.address;
    const comm = await connect(address, secret, 30_000);
    const rpc = new Rpc(
      comm,
      routes({
        parsers: schedulerToWorkerParsers,
        handlers: {
          [Op.computeTask]: (m) => {
            this.finished++;
            rpc.send({ op: Op.taskFinished, key: m.key, nbytes: NULL_BYTES, duration: 0, value: NULL_RESULT });
          },
          [Op.freeKeys]: () => {},
          [Op.closeWorker]: () => void this.close(),
          [Op.schedulerClosing]: () => {},
          [Op.run]: () => NULL_RESULT,
          [Op.pluginAdd]: () => ({ ok: true }) as const,
          [Op.pluginRemove]: () => ({ ok: true }) as const,
          [Op.replicateTo]: () => [],
          [Op.restart]: () => "ok",
          [Op.restartProcess]: () => "ok",
          [Op.getLogs]: () => [],
        },
      }),
    );
    this.#rpc = rpc;
    await rpc.request(
      { op: Op.registerWorker, address: this.address, name: this.name, host: hostname(), nthreads: this.opts.nthreads ?? 1, memoryLimit: 0, pid: process.pid, resources: {} },
      60_000,
    );
    // workers started apart beat apart: spread the first beat over one interval
    this.#heartbeat = setTimeout(() => this.#beat(), Math.random() * this.#every()).unref();
  }

  /** As a real worker: its own interval or the scheduler's (longer in a big cluster), the longer. */
  #every(): number {
    return Math.max(this.opts.heartbeatMs ?? 1000, this.#schedulerBeatMs);
  }

  #beat(): void {
    const rpc = this.#rpc;
    if (!rpc || rpc.closed) return;
    this.#heartbeat = setTimeout(() => this.#beat(), this.#every()).unref();
    rpc
      .request({ op: Op.heartbeat, metrics: { executing: 0, ready: 0, inMemory: 0, cpu: 0 } }, 15_000, { background: true })
      .then((reply) => {
        if (typeof reply === "object" && reply !== null && typeof reply.heartbeatMs === "number") this.#schedulerBeatMs = reply.heartbeatMs;
      })
      .catch(() => {});
  }

  async close(): Promise<void> {
    clearTimeout(this.#heartbeat);
    clearInterval(this.#heartbeat);
    this.#rpc?.close("null worker closing");
    await this.#listener?.close();
  }
}

/** Start `n` null workers on the scheduler, `concurrency` registrations at a time; the wall time until all are registered. */
export async function startNullWorkers(
  scheduler: { address: string; secret: string },
  n: number,
  opts: NullWorkerOptions & { concurrency?: number; prefix?: string } = {},
): Promise<{ workers: NullWorker[]; registeredMs: number }> {
  const t0 = performance.now();
  const workers = Array.from({ length: n }, (_, i) => new NullWorker(`${opts.prefix ?? "null"}-${i}`, scheduler, opts));
  let next = 0;
  const lane = async () => {
    try {
      while (next < workers.length) await workers[next++]!.start();
    } catch (err) {
      next = workers.length; // the other lanes start no more
      throw err;
    }
  };
  const lanes = await Promise.allSettled(Array.from({ length: Math.min(n, opts.concurrency ?? 64) }, lane));
  const failed = lanes.find((l): l is PromiseRejectedResult => l.status === "rejected");
  if (failed) {
    // the caller never sees the workers of a failed start: close every one here (the other
    // lanes have settled), or their listeners and heartbeats keep the process alive
    await Promise.allSettled(workers.map((w) => w.close()));
    throw failed.reason;
  }
  return { workers, registeredMs: performance.now() - t0 };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [file, count, threads] = process.argv.slice(2);
  const target = file ? readSchedulerFile(file) : undefined;
  if (!target || !(Number(count) > 0)) {
    console.error("usage: null-workers.js SCHEDULER_FILE N [NTHREADS]");
    process.exit(2);
  }
  const { workers, registeredMs } = await startNullWorkers(target, Number(count), { nthreads: Number(threads) || 1 });
  process.stdout.write(`NULL_WORKERS ${JSON.stringify({ n: workers.length, registeredMs })}\n`);
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    if (line.trim() === "cpu") {
      const u = process.cpuUsage();
      process.stdout.write(`NULL_CPU ${u.user + u.system}\n`);
    }
  });
  lines.on("close", () => {
    void Promise.all(workers.map((w) => w.close())).finally(() => process.exit(0));
  });
}
