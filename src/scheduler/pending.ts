/**
 * "Why pending?": why a task (or the scheduler's pending work as a whole) does not run, from the
 * scheduler's state (no worker offers a resource it needs, restricted to workers not here,
 * every worker that could run it paused for memory or retiring, waiting on dependencies, every
 * thread busy), merged with what a job queue says about the jobs that would bring workers (a
 * job-queue cluster sets Scheduler.queue: SLURM's pending reason, Grid Engine's `qstat -j`
 * messages). Pure: reads the state, returns data and one answer in words.
 */
import type { SchedulerState } from "./state.js";
import type { TaskRecord, WorkerRecord } from "./state-types.js";
import type { QueueJob, QueuePool, QueueReport, QueueSource, WhyPending } from "../protocol/messages-pending.js";

export type { QueueJob, QueuePool, QueueReport, QueueSource, WhyPending };

type View = Pick<SchedulerState, "tasks" | "workers">;

const fmt = (r: Record<string, number>) => Object.entries(r).map(([k, v]) => `${k}=${v}`).join(",");
const list = (xs: string[], n = 3) => xs.slice(0, n).join(", ") + (xs.length > n ? ` and ${xs.length - n} more` : "");

/** The workers a task may run on, by its restrictions and resources (not by load). */
function eligible(t: TaskRecord, workers: Iterable<WorkerRecord>): WorkerRecord[] {
  const p = t.placement;
  return [...workers].filter((ws) => {
    if (p?.workers && !p.allowOtherWorkers && !p.workers.some((w) => w === ws.address || w === ws.name || w === ws.host)) return false;
    if (p?.resources) for (const [r, n] of Object.entries(p.resources)) if ((ws.resources?.[r] ?? 0) < n) return false;
    return true;
  });
}

/** The scheduler's reasons why task `t` does not run (empty: it runs, or is done). */
export function taskReasons(s: View, t: TaskRecord): string[] {
  if (t.state === "waiting") {
    const deps = t.dependencies.filter((d) => d.state !== "memory");
    return [`it waits on ${deps.length} dependenc${deps.length === 1 ? "y" : "ies"} not computed yet: ${list(deps.map((d) => `${d.key} (${d.state})`))}`];
  }
  if (t.state === "released") return ["no client wants it (released)"];
  if (t.state !== "queued") return [];
  const all = [...s.workers.values()];
  if (all.length === 0) return ["no worker is connected"];
  const p = t.placement;
  if (p?.resources) {
    const missing = Object.entries(p.resources).filter(([r, n]) => !all.some((ws) => (ws.resources?.[r] ?? 0) >= n));
    if (missing.length) return [`no worker offers resource ${fmt(Object.fromEntries(missing))} (the workers offer ${list([...new Set(all.flatMap((ws) => Object.keys(ws.resources ?? {})))]) || "none"})`];
  }
  const can = eligible(t, all);
  if (can.length === 0) return [`it is restricted to workers ${list(p?.workers ?? [])}, none of them connected`];
  const open = can.filter((ws) => !ws.paused && !ws.closing);
  if (open.length === 0) {
    const paused = can.filter((ws) => ws.paused).length;
    return paused === can.length ? [`all ${can.length} worker(s) that could run it are paused for memory (above their pause threshold)`] : [`the ${can.length} worker(s) that could run it are paused for memory (${paused}) or retiring`];
  }
  const busy = open.every((ws) => ws.processing.size - ws.longRunning.size >= ws.nthreads);
  if (busy) return [`all ${open.reduce((a, w) => a + w.nthreads, 0)} thread(s) of the ${open.length} worker(s) that could run it are busy; it runs when one frees`];
  if (p?.resources) return [`the workers offering ${fmt(p.resources)} have them in use by other tasks`];
  return ["it is about to run (a worker has a free thread)"];
}

/** The scheduler's reasons for the pending work as a whole: queued tasks grouped by their reason. */
export function overallReasons(s: View): { state: string; reasons: string[] } {
  const counts = new Map<string, number>();
  let queued = 0;
  let waiting = 0;
  for (const t of s.tasks.values()) {
    if (t.state === "waiting") waiting++;
    if (t.state !== "queued") continue;
    queued++;
    // the first reason, without its particulars, groups the tasks
    const r = taskReasons(s, t)[0]!;
    counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  const reasons = [...counts].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${n} queued task(s): ${r}`);
  if (waiting) reasons.push(`${waiting} task(s) wait on dependencies`);
  return { state: queued ? "queued" : waiting ? "waiting" : "idle", reasons };
}

/** A processing task runs, or waits on its worker for a thread (sent ahead, as the scheduler does to keep workers busy). */
function processingReason(s: View, t: TaskRecord): string {
  if (t.running) return `it is running on ${t.processingOn}`;
  const ws = t.processingOn === undefined ? undefined : s.workers.get(t.processingOn);
  const running = ws ? [...ws.processing].filter((p) => p.running).length : 0;
  return `it is sent to ${t.processingOn} and waits there for a free thread (${running} of its ${ws?.nthreads ?? "?"} thread(s) busy)`;
}

/** The whole answer: the scheduler's reasons, then the queue's where workers are missing. */
export function whyPending(s: View, key: string | undefined, queue: QueueReport | undefined): WhyPending {
  let state: string;
  let scheduler: string[];
  let needs: Record<string, number> | undefined;
  if (key === undefined) ({ state, reasons: scheduler } = overallReasons(s));
  else {
    const t = s.tasks.get(key);
    state = t?.state ?? "unknown";
    needs = t?.placement?.resources;
    scheduler = !t ? [`the scheduler has no task ${JSON.stringify(key)} (never submitted, or released)`] : t.state === "processing" ? [processingReason(s, t)] : t.state === "memory" ? ["it is done (in memory)"] : t.state === "erred" ? ["it failed (erred)"] : taskReasons(s, t);
  }
  const answer = scheduler.map((r) => `scheduler: ${r}`);
  if (queue) {
    const pools = needs ? queue.pools.filter((p) => Object.entries(needs!).every(([r, n]) => (p.resources[r] ?? 0) >= n)) : queue.pools;
    if (needs && pools.length === 0) answer.push(`${queue.system}: no pool of the cluster offers ${fmt(needs)}: add one with cluster.addPool(name, { resources: { ${Object.entries(needs).map(([k, v]) => `${k}: ${v}`).join(", ")} }, ... })`);
    const names = new Set(pools.map((p) => p.name));
    for (const j of queue.jobs.filter((j) => names.has(j.pool) && j.state === "pending")) {
      answer.push(`${queue.system}: job ${j.id} (pool ${j.pool}) is pending${j.reason ? `: ${j.reason}` : ""}${j.hint ? ` (${j.hint})` : ""}`);
    }
    const live = queue.jobs.filter((j) => names.has(j.pool));
    if (state === "queued" && live.length === 0) answer.push(`${queue.system}: no job of pool${pools.length === 1 ? "" : "s"} ${[...names].join(", ")} is in the queue: scale it (cluster.scale({ pool, n })) or adapt()`);
    for (const n of queue.notes) answer.push(`${queue.system}: ${n}`);
  }
  return { ...(key === undefined ? {} : { key }), state, scheduler, ...(queue ? { queue } : {}), answer };
}
