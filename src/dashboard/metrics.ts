/**
 * `/metrics`: the scheduler's state in Prometheus text format (prom-client). The registry is
 * built on the first scrape (prom-client is not loaded before someone asks) and every value is
 * read from the scheduler at scrape time, so metrics cost nothing between scrapes.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { SchedulerStateView } from "../scheduler/extension.js";
import { num } from "./snapshot.js";

const LOOP_RESOLUTION_MS = 10;
/** A sample of the delay histogram, less the sampling interval it includes, in seconds. */
const lag = (ns: number): number => Math.max(0, (ns || 0) / 1e9 - LOOP_RESOLUTION_MS / 1e3);

export class Metrics {
  #state: SchedulerStateView;
  #registry: Promise<{ metrics(): Promise<string>; contentType: string }> | undefined;
  /** Event-loop delay of the scheduler, sampled from the dashboard's start. */
  #loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });

  constructor(state: SchedulerStateView) {
    this.#state = state;
    this.#loop.enable();
  }

  close(): void {
    this.#loop.disable();
  }

  async text(): Promise<{ body: string; contentType: string }> {
    this.#registry ??= this.#build();
    const r = await this.#registry;
    return { body: await r.metrics(), contentType: r.contentType };
  }

  async #build() {
    const prom = (await import("prom-client")).default;
    const registry = new prom.Registry();
    const state = this.#state;
    const loop = this.#loop;
    const workers = () => [...state.workers.values()];
    new prom.Gauge({
      name: "dask_scheduler_tasks",
      help: "Tasks known to the scheduler, by state",
      labelNames: ["state"],
      registers: [registry],
      collect() {
        this.reset();
        const counts: Record<string, number> = { released: 0, waiting: 0, queued: 0, processing: 0, memory: 0, erred: 0 };
        for (const t of state.tasks.values()) counts[t.state] = (counts[t.state] ?? 0) + 1;
        for (const [s, n] of Object.entries(counts)) this.set({ state: s }, n);
      },
    });
    new prom.Counter({
      name: "dask_scheduler_tasks_finished_total",
      help: "Tasks computed since the scheduler started",
      registers: [registry],
      collect() {
        this.reset();
        this.inc(state.finished);
      },
    });
    new prom.Counter({
      name: "dask_scheduler_tasks_erred_total",
      help: "Tasks that failed on a worker since the scheduler started",
      registers: [registry],
      collect() {
        this.reset();
        this.inc(state.failed);
      },
    });
    new prom.Gauge({
      name: "dask_scheduler_workers",
      help: "Connected workers, by status",
      labelNames: ["status"],
      registers: [registry],
      collect() {
        this.reset();
        const ws = workers();
        this.set({ status: "running" }, ws.filter((w) => !w.paused && !w.closing).length);
        this.set({ status: "paused" }, ws.filter((w) => w.paused).length);
        this.set({ status: "closing" }, ws.filter((w) => w.closing).length);
      },
    });
    new prom.Gauge({
      name: "dask_worker_memory_bytes",
      help: "Memory of each worker: process RSS, results held in memory, results spilled to disk, and the limit",
      labelNames: ["worker", "kind"],
      registers: [registry],
      collect() {
        this.reset();
        for (const w of workers()) {
          this.set({ worker: w.name, kind: "rss" }, num(w.metrics.rss));
          this.set({ worker: w.name, kind: "stored" }, num(w.metrics.storedBytes));
          this.set({ worker: w.name, kind: "spilled" }, num(w.metrics.spilledBytes));
          this.set({ worker: w.name, kind: "limit" }, w.memoryLimit);
        }
      },
    });
    new prom.Counter({
      name: "dask_worker_transfer_bytes_total",
      help: "Bytes of results moved between workers (as the workers report them), by direction",
      labelNames: ["direction"],
      registers: [registry],
      collect() {
        this.reset();
        let sent = 0;
        let received = 0;
        for (const w of workers()) {
          sent += num(w.metrics.sentToPeers);
          received += num(w.metrics.receivedFromPeers);
        }
        this.inc({ direction: "sent" }, sent);
        this.inc({ direction: "received" }, received);
      },
    });
    new prom.Gauge({
      name: "dask_scheduler_event_loop_delay_seconds",
      help: "Event-loop delay of the scheduler since the previous scrape",
      labelNames: ["stat"],
      registers: [registry],
      collect() {
        this.reset();
        this.set({ stat: "mean" }, lag(loop.mean));
        this.set({ stat: "p99" }, lag(loop.percentile(99)));
        this.set({ stat: "max" }, lag(loop.max));
        loop.reset();
      },
    });
    return registry;
  }
}
