// The public API as a consumer sees it: compiled (never run) by `npm run build` against the
// emitted declarations, through the package's own exports map (`dask-mpi-ts`, `/jobqueue`,
// `/drmaa`, `/server`). Protects: every public name is exported with a usable type, the .d.ts
// files are whole after stripInternal (no member refers to a stripped one), and members marked
// @internal are not part of the public types (the @ts-expect-error lines fail when they show).
import {
  AddonLoadError,
  type AdaptOptions,
  CancelledError,
  Client,
  CommClosedError,
  ConfigError,
  type ConnectOptions,
  type ConnectTarget,
  DaskError,
  DRMAACluster,
  type DRMAAOptions,
  DrmaaError,
  DrmaaSession,
  DrmaaUnavailableError,
  Future,
  type FutureHost,
  type FutureStatus,
  HandshakeError,
  type InitializeOptions,
  type JobExit,
  type JobInfo,
  JobQueueError,
  type JobQueueCluster,
  type JobQueueOptions,
  type JobStatus,
  type JobTemplate,
  KeyRef,
  KilledWorkerError,
  LSFCluster,
  type LSFOptions,
  HTCondorCluster,
  OARCluster,
  type PoolOptions,
  type WhyPending,
  type MapOptions,
  MpiError,
  PBSCluster,
  ProtocolError,
  type ProgressOptions,
  type RemoteFunction,
  RemoteTaskError,
  type ReturnWhen,
  SGECluster,
  SLURMCluster,
  type SLURMOptions,
  type ScatterOptions,
  SchedulerLostError,
  type SubmitOptions,
  TimeoutError,
  type WaitOptions,
  type WireFunction,
  WorkerDiedError,
  type WorkerSummary,
  WorldTooSmallError,
  asCompleted,
  type AsCompleted,
  getClient,
  execute,
  type ExecuteOptions,
  initialize,
  progress,
  ref,
  remote,
  wait,
} from "dask-mpi-ts";
import { type AcquireOptions, CoordinationError, Event, Lock, Pub, Queue, type QueueOptions, Semaphore, type SemaphoreOptions, Sub, Variable, type PrimitiveOptions } from "dask-mpi-ts";
import {
  type Gathered, type GatherOptions, type LogRecord, type WorkerLogsOptions, type JupyterOptions, type JupyterServer, JupyterError, JournalError, WorkerPluginError, type WorkerPlugin, type PluginOptions, workerPlugin, getWorker, type TaskWorker, type RebalanceOptions, type ReplicateOptions, type TaskStreamOptions, type TaskStreamRecord, type TaskStreamTransfer, fireAndForget, performanceReport,
} from "dask-mpi-ts";
import * as jobqueue from "dask-mpi-ts/jobqueue";
import * as drmaa from "dask-mpi-ts/drmaa";
import { type JobEnd, Nanny, Scheduler, type SchedulerOptions, Worker, type WorkerOptions, dashboardExtension, withDashboard } from "dask-mpi-ts/server";

export async function client(target: ConnectTarget, options: ConnectOptions): Promise<void> {
  const c: Client = await Client.connect(target, options);
  const submit: SubmitOptions = { key: "k", pure: false, priority: 1, retries: 0, workers: ["a"], allowOtherWorkers: true, resources: { GPU: 1 } };
  const f: Future<number> = c.submit((a: number, b: number) => a + b, 1, 2, submit);
  const map: MapOptions = { key: "sq" };
  const fs: Array<Future<number>> = c.map((x: number) => x * x, [1, 2], map);
  const graph = c.submitGraph({ a: [(x: number) => x + 1, 1], b: [(x: number) => x * 2, ref("a")] });
  const scatter: ScatterOptions = { broadcast: true };
  const s: Future<string> = await c.scatter("v", scatter);
  // a list is scattered item by item: a future per item
  const [s1, s2]: Array<Future<number>> = await c.scatter([1, 2]);
  const status: FutureStatus = f.status;
  const n: number = await f.result();
  const all: number[] = await c.gather(fs);
  const w: WaitOptions = { timeout: 1000, returnWhen: "FIRST_COMPLETED" satisfies ReturnWhen };
  const { done, notDone } = await wait(fs, w);
  for await (const [g, v] of asCompleted(fs, { withResults: true })) void [g.key, v.toFixed()];
  // Dask's as_completed: more futures while it runs, batches
  const ac: AsCompleted<number> = asCompleted(fs);
  for await (const g of ac) if (ac.count() < 10) ac.add(g);
  ac.update(fs);
  const batch: Array<[Future<number>, number]> = await asCompleted(fs, { withResults: true }).nextBatch();
  for await (const b of asCompleted(fs).batches()) void b.map((g: Future<number>) => g.key);
  void [batch, ac.isEmpty(), ac.hasReady(), ac.clear()];
  const p: ProgressOptions = {};
  await progress(fs, p);
  const info: WorkerSummary | undefined = Object.values((await c.schedulerInfo()).workers)[0];
  const fn: RemoteFunction<[number], number> = remote<[number], number>(new URL("file:///m.js"), "f");
  const wire: WireFunction = { kind: "module", url: "file:///m.js", name: "f" };
  const k: KeyRef = new KeyRef("a");
  void [s, status, n, all, done, notDone, info, fn, wire, k, graph.b, f.done(), f.exception(), f.client.closed, getClient().id]
  const host: FutureHost = f.client;
  void host.gather(f);
  const lines: LogRecord[] = await c.getSchedulerLogs({ n: 10 });
  const byWorker: Record<string, LogRecord[]> = await c.getWorkerLogs({ n: 10, workers: ["w0"] } satisfies WorkerLogsOptions);
  void [lines[0]?.msg, lines[0]?.level, byWorker];
  await Promise.all([f.whenDone(), f.cancel(), c.cancel(fs), f.retry(), c.retry(fs), c.run(() => 1), c.runOnScheduler(() => 1), c.story("k"), c.getVersions()]);
  f.release();
  // @ts-expect-error internal: a future's key incarnation
  void f.state;
  // @ts-expect-error internal: the future's half of the client
  void c.waitKeys;
  // @ts-expect-error internal
  void c.releaseKey;
  await c.close();
}

export async function launchers(o: InitializeOptions, slurm: SLURMOptions, lsf: LSFOptions, jq: JobQueueOptions, d: DRMAAOptions, a: AdaptOptions): Promise<void> {
  const c: Client | null = await initialize(o);
  const eo: ExecuteOptions = { ...o, clientRank: 1, schedulerRank: 0, exclusiveWorkers: false, protocol: "tcp", workerOptions: { nthreads: 2, memory: { target: 0.5 } } };
  const n: number = await execute(async (client: Client) => (await client.submit((x: number) => x + 1, 1).result()) as number, eo);
  void n;
  const clusters: JobQueueCluster[] = [await SLURMCluster.create(slurm), await PBSCluster.create(jq), await SGECluster.create(jq), await LSFCluster.create(lsf), await DRMAACluster.create(d)];
  const sl: SLURMCluster = (await SLURMCluster.create()) as SLURMCluster;
  const info: JobInfo[] = sl.jobs();
  const waits: number[] = sl.queueWaits();
  const walltimeAware: JobQueueOptions = { walltime: "01:00:00", walltimeMargin: "5m" };
  const ignoring: SLURMOptions = { walltimeMargin: false };
  const calm: AdaptOptions = { minimumIdle: "30s", waitCount: 3 };
  sl.adapt(a);
  await sl.scale(2);
  const real: jobqueue.SLURMCluster = sl;
  void [c, clusters, info, waits, walltimeAware, ignoring, calm, real instanceof jobqueue.JobQueueCluster, sl.schedulerAddress, sl.jobScript()];
  // pools, arrays, caps, why pending (issue 18)
  const gpu: PoolOptions = { queue: "gpu", cores: 4, memory: "64GB", resources: { GPU: 1 }, jobArray: true, jobArrayThrottle: 2 };
  const script: string = sl.addPool("gpu", gpu);
  await sl.scale({ pool: "gpu", n: 2 });
  await sl.scale({ pool: "gpu", jobs: 1 });
  sl.adapt({ maximum: 10, pools: { gpu: { maximum: 2 } } });
  const capped: SLURMOptions = { maxJobs: 10, maxQueuedJobs: 5 };
  const why: WhyPending = await sl.explain("key");
  const lines: string[] = (await c!.whyPending()).answer;
  const others: JobQueueCluster[] = [await OARCluster.create(jq), await HTCondorCluster.create(jq)];
  const pool: string = info[0]!.pool;
  void [script, capped, why.queue?.jobs[0]?.reason, lines, others, pool, sl.pools(), sl.jobScript("gpu")];
  const session: DrmaaSession = await DrmaaSession.open();
  const t: JobTemplate = { remoteCommand: "/bin/true" };
  const id = await session.runJob(t);
  const st: JobStatus = await session.status(id);
  const exit: JobExit = await session.wait(id, 10);
  const same: drmaa.DrmaaSession = session;
  void [st, exit, same];
  await Promise.all([sl.close(), session.close()]);
}

export async function roles(so: SchedulerOptions, wo: WorkerOptions): Promise<void> {
  const s = await Scheduler.start(so);
  // a program that starts its own scheduler gets the dashboard as an extension
  const d = await Scheduler.start({ ...so, extensions: [dashboardExtension(":8787")] });
  const e = await Scheduler.start(withDashboard({ ...so, dashboardAddress: ":0" }));
  await Promise.all([d.close("done"), e.close("done")]);
  const w = await Worker.start({ ...wo, schedulerAddress: s.address });
  // a worker in a batch job retires a margin before the job's end
  const jobEnd: JobEnd = { at: Date.now() + 3_600_000, marginMs: 300_000 };
  await (await Worker.start({ ...wo, schedulerAddress: s.address, jobEnd })).close("done");
  void Nanny;
  await w.close("done");
  await s.close("done");
}

export function errors(): DaskError[] {
  return [
    new CommClosedError("x"),
    new ProtocolError("x"),
    new HandshakeError("x"),
    new TimeoutError("x"),
    new ConfigError("x"),
    new CancelledError("x"),
    new JobQueueError("x", { command: "sbatch", exitCode: 1, stderr: "", stdout: "" }),
    new DrmaaError("x", { drmaaCode: 1, codeName: "X", diagnosis: "" }),
    new DrmaaUnavailableError("x"),
  ].concat([MpiError, WorldTooSmallError, WorkerDiedError, RemoteTaskError, KilledWorkerError, AddonLoadError, SchedulerLostError].map((E) => E.prototype));
}

export async function coordination(c: Client): Promise<void> {
  await c.publishDataset("d", { x: 1 }, { override: true });
  const d: { x: number } = await c.getDataset<{ x: number }>("d", { timeout: 10 });
  const names: string[] = await c.listDatasets();
  await c.unpublishDataset("d");
  const po: PrimitiveOptions = { client: c };
  const ao: AcquireOptions = { timeout: 10, lease: 1000 };
  const lock = new Lock("l", po);
  const got: boolean = await lock.acquire(ao);
  const locked: boolean = await lock.locked();
  await lock.release();
  const so: SemaphoreOptions = { maxLeases: 2, name: "s", client: c };
  const sem = new Semaphore(so);
  const value: number = await sem.getValue();
  const qo: QueueOptions = { maxsize: 1, client: c };
  const q = new Queue<number>("q", qo);
  await q.put(1, { timeout: 10 });
  const one: number = await q.get({ timeout: 10 });
  const many: number[] = await q.get({ batch: true });
  const size: number = await q.qsize();
  const v = new Variable<string>("v", po);
  await v.set("a");
  const s: string = await v.get({ timeout: 10 });
  await v.delete();
  const e = new Event("e", po);
  const set: boolean = (await e.wait({ timeout: 10 })) && (await e.isSet());
  await Promise.all([e.set(), e.clear()]);
  new Pub<number>("p", po).put(1);
  const sub = new Sub<number>("p", po);
  for await (const x of sub) void x.toFixed();
  const next: number = await sub.get({ timeout: 10 });
  sub.close();
  const err: DaskError = new CoordinationError("x");
  void [d, names, got, locked, value, one, many, size, s, set, next, err, lock.name, lock.client, sem.maxLeases, q.maxsize];
  // @ts-expect-error internal: a client adopting a key it was given
  void c.adopt;
  // @ts-expect-error internal: how errors name the primitive
  void lock.what;
}

// issue 14, points 1 and 6: tasks that submit tasks, and actors
import { type Actor, actorOf, rejoin, secede, workerClient } from "dask-mpi-ts";

class Tally {
  n = 0;
  add(by: number): number {
    return (this.n += by);
  }
}

export async function tasksAndActors(c: Client): Promise<void> {
  const total: number = await workerClient(async (wc: Client) => wc.submit((x: number) => x + 1, 1).result());
  secede();
  await rejoin();
  const tally: Actor<Tally> = await c.submit(Tally, { actor: true }).result();
  const after: number = await tally.add(2);
  const n: number = await tally.n;
  const key: string | undefined = actorOf(tally)?.key;
  void [total, after, n, key];
  // @ts-expect-error internal: how the client's actor proxies reach their workers
  void c.actorHost;
}

/** Issue 14, points 2, 3, 7, 9: collecting what succeeded, where data lives, the task stream, error causes. */
export async function data(c: Client, fs: Array<Future<number>>): Promise<void> {
  const g: GatherOptions = { errors: "skip", timeout: 1000 };
  const ok: number[] = await c.gather(fs, g);
  // Dask's nested structures: each Future<V> typed as V, anything else as it was
  const nested: { a: number; l: Array<number | string>; m: Map<string, number>; s: Set<number>; d: Date } = await c.gather({ a: fs[0]!, l: [fs[0]!, "x"], m: new Map([["k", fs[0]!]]), s: new Set(fs), d: new Date() });
  const typed: Gathered<{ p: Future<string>; q: [Future<number>, boolean] }> = { p: "v", q: [1, true] };
  // @ts-expect-error a gathered future is its value, not the future
  const wrong: Gathered<{ p: Future<string> }> = { p: fs[0]! };
  void [nested, typed, wrong];
  fireAndForget(fs[0]!);
  fireAndForget(fs);
  const who: Record<string, string[]> = await c.whoHas(fs);
  const what: Record<string, string[]> = await c.hasWhat(["w0"]);
  const sizes: Record<string, number> = await c.nbytes();
  const r: ReplicateOptions = { n: 2, workers: ["w0", "w1"] };
  const b: RebalanceOptions = { workers: ["w0"] };
  await Promise.all([c.replicate(fs, r), c.rebalance(fs, b), c.rebalance()]);
  const o: TaskStreamOptions = { start: Date.now() - 10_000, stop: new Date(), count: 10 };
  const recs: TaskStreamRecord[] = await c.getTaskStream(o);
  const t: TaskStreamTransfer | undefined = recs[0]?.transfers[0];
  const value: number = await performanceReport("report.html", async () => 1, { client: c });
  const cause: Error = new RemoteTaskError("k", { name: "RangeError", message: "m", stack: "" }).cause;
  void [ok, who, what, sizes, t?.source, recs[0]?.thread, value, cause.name];
  // @ts-expect-error internal: the client's modules' request
  void c.request;
}

/** Issue 19: Jupyter next to the scheduler. */
export async function jupyter(c: Client): Promise<void> {
  const o: JupyterOptions = { app: "notebook", ip: "127.0.0.1", port: 0, kernel: "tslab", notebookDir: ".", command: "jupyter", timeout: 60_000 };
  const s: JupyterServer = await c.startJupyter(o);
  const fields: [string, string, string, number, string, string, number] = [s.url, s.token, s.baseUrl, s.port, s.hostname, s.schedulerFile, s.pid];
  const err: DaskError = new JupyterError("x");
  const journalErr: DaskError = new JournalError("x");
  void journalErr;
  void [fields, err.code, await c.startJupyter()];
}

/** Dask's worker plugins: the plugin's value typed from its setup to its teardown and to workerPlugin. */
export async function workerPlugins(c: Client): Promise<void> {
  const plugin: WorkerPlugin<{ rows: number }> = { name: "table", setup: async () => ({ rows: 3 }), teardown: (v) => void v.rows };
  const ok: Record<string, "ok"> = await c.registerWorkerPlugin(plugin, { idempotent: true, timeout: 1000 } satisfies PluginOptions & { idempotent?: boolean });
  await c.unregisterWorkerPlugin("table", { timeout: 1000 });
  const rows: number = workerPlugin<{ rows: number }>("table").rows;
  const where: TaskWorker = getWorker();
  void [where.address, where.name, where.nthreads];
  const err = new WorkerPluginError("table", "setup", "tcp://w:1", { name: "Error", message: "m", stack: "" });
  const fields: [string, string, string, string, Error] = [err.plugin, err.worker, err.remoteName, err.remoteMessage, err.cause];
  // @ts-expect-error teardown takes what setup returned
  const bad: WorkerPlugin<{ rows: number }> = { name: "t", setup: () => ({ rows: 1 }), teardown: (v: string) => v };
  const fresh: Record<string, string> = await c.restartWorkers(["w0"], { timeout: 30_000 });
  void [ok, rows, fields, bad, fresh];
}
