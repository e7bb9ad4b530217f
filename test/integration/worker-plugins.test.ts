// Worker plugins (Dask's register_plugin of a WorkerPlugin) on real processes: a setup runs once
// on every task thread of every worker, before the tasks after it, and on workers and threads
// that start later; tasks read its value with workerPlugin(name); a failing setup is an error
// naming the worker, and the tasks there get its reason; teardown runs on unregister, on
// replacement and at the worker's close; a journaled scheduler taking over keeps the plugins.
// Tasks also tell where they run with getWorker() (Dask's get_worker()).
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { Client, type WorkerPlugin, WorkerPluginError, getWorker, workerPlugin } from "../../src/index.js";
import { BIN, type ProcessClusterHandle, startProcessCluster, tempDir, withCluster } from "../helpers/cluster.js";
import { type Proc, cleanupProcs, spawnProc, waitFor } from "../helpers/proc.js";

/** What a task sees: its own thread and process, and the value of plugin `name` there (or its error). */
type Seen = { pid: number; thread: number; worker: { address: string; name: string; nthreads: number }; plugin?: { pid: number; thread: number; setups: number; tag?: string }; error?: string };

/**
 * A plugin whose setup records where it ran and how many setups of it this thread has run, and
 * whose teardown leaves a file `<tag>-<pid>-<thread>` in $PLUGIN_TEST_DIR (the workers' env).
 */
function recorder(name: string, tag: string): WorkerPlugin<{ pid: number; thread: number; setups: number; tag: string }> {
  // tag reaches the shipped source as text: the functions cannot close over it
  const setup = new Function(`return async () => {
    const { threadId } = await import("node:worker_threads");
    const counts = (globalThis.__pluginSetups ??= {});
    counts[${JSON.stringify(name)}] = (counts[${JSON.stringify(name)}] ?? 0) + 1;
    return { pid: process.pid, thread: threadId, setups: counts[${JSON.stringify(name)}], tag: ${JSON.stringify(tag)} };
  }`)() as () => Promise<{ pid: number; thread: number; setups: number; tag: string }>;
  const teardown = async (v: { pid: number; thread: number; tag: string }) => {
    const { writeFileSync } = await import("node:fs");
    writeFileSync(`${process.env.PLUGIN_TEST_DIR}/${v.tag}-${v.pid}-${v.thread}`, "");
  };
  return { name, setup, teardown };
}

/**
 * What `n` tasks (shipped as source) see: where each ran, and what workerPlugin(name) gave it
 * there (or its error); each holds its thread a moment, so the batches go round the threads.
 */
async function everyThread(c: Client, name: string, n = 24, workers?: string[]): Promise<Seen[]> {
  const fs = c.map(
    async (name: string, _i: number) => {
      const end = Date.now() + 20;
      while (Date.now() < end);
      const { threadId } = await import("node:worker_threads");
      const { workerPlugin, getWorker } = await import("dask-mpi-ts");
      const where = { pid: process.pid, thread: threadId, worker: getWorker() };
      try {
        return { ...where, plugin: workerPlugin(name) };
      } catch (err) {
        return { ...where, error: (err as Error).message };
      }
    },
    Array.from({ length: n }, () => name),
    Array.from({ length: n }, (_, i) => i),
    { pure: false, ...(workers ? { workers } : {}) },
  );
  return (await c.gather(fs, { timeout: 60_000 })) as Seen[];
}

const torn = (dir: string, tag: string) => readdirSync(dir).filter((f) => f.startsWith(`${tag}-`)).sort();

describe("worker plugins (real processes)", function () {
  this.timeout(180_000);
  let c: ProcessClusterHandle;
  let marks: ReturnType<typeof tempDir>;

  beforeEach(async () => {
    marks = tempDir();
    c = await withCluster({ mode: "process", workers: 2, nthreads: 2, workerEnv: () => ({ PLUGIN_TEST_DIR: marks.dir }) });
  });
  afterEach(async () => {
    await c?.cleanup();
    marks.remove();
  });

  // Protects: the setup runs once on each task thread, before the tasks submitted after the
  // registration, and its value is that thread's own; a worker joining later sets it up before
  // its first task; unregister runs every thread's teardown, and tasks then find no plugin.
  it("runs setup once per task thread, before later tasks, on late workers too; unregister tears it down", async () => {
    const r = await c.client.registerWorkerPlugin(recorder("rec", "a"));
    assert.deepEqual(Object.values(r), ["ok", "ok"], "both workers answered");
    const seen = await everyThread(c.client, "rec");
    for (const s of seen) {
      assert.equal(s.error, undefined, s.error);
      assert.deepEqual([s.plugin!.pid, s.plugin!.thread, s.plugin!.setups], [s.pid, s.thread, 1], "the value set up on the task's own thread, once");
    }

    const late = spawnProc(process.execPath, [BIN("dask-worker-ts"), "--scheduler-file", c.file, "--interface", "lo", "--nthreads", "2", "--name", "late", "--no-nanny"], {
      env: { PLUGIN_TEST_DIR: marks.dir, DASK_MPI_TS_LOG_LEVEL: "warn" },
    });
    await c.client.waitForWorkers(3, { timeout: 30_000 });
    const onLate = await everyThread(c.client, "rec", 8, ["late"]);
    const latePid = late.child.pid;
    const lateAddress = Object.entries((await c.client.schedulerInfo()).workers).find(([, w]) => w.name === "late")![0];
    for (const s of onLate) {
      assert.equal(s.pid, latePid, "pinned to the late worker");
      assert.deepEqual(s.worker, { address: lateAddress, name: "late", nthreads: 2 }, "getWorker() in its task");
      assert.deepEqual([s.plugin?.thread, s.plugin?.setups], [s.thread, 1], s.error ?? "set up on the late worker's thread");
    }

    await c.client.unregisterWorkerPlugin("rec");
    // every thread of the three workers tore its value down
    assert.equal(torn(marks.dir, "a").length, 6, `teardowns: ${torn(marks.dir, "a").join(", ")}`);
    for (const s of await everyThread(c.client, "rec", 6)) assert.match(s.error ?? "", /no worker plugin named "rec" on this task thread/);
    await assert.rejects(c.client.unregisterWorkerPlugin("rec"), /no worker plugin named "rec" is registered \(none is\)/);
  });

  // Protects: a setup that throws is a WorkerPluginError naming a worker and the error (the
  // plugin stays registered, as in Dask) and tasks there get that reason, never a value;
  // registering the name again replaces it (the old value's teardown, then the new setup; a
  // failing teardown is reported as such, with the new one up); idempotent leaves a name alone.
  it("a failing setup is an error naming the worker; tasks get its reason; a new registration replaces it; idempotent skips", async () => {
    const bad: WorkerPlugin = { name: "p", setup: () => { throw new RangeError("no table here"); } };
    const err = await c.client.registerWorkerPlugin(bad).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof WorkerPluginError, String(err));
    assert.match(err.message, /^worker plugin "p": its setup failed on worker tcp:\/\/127\.0\.0\.1:\d+: RangeError: no table here$/);
    assert.equal(err.cause.name, "RangeError");
    for (const s of await everyThread(c.client, "p", 8)) assert.match(s.error ?? "", /worker plugin "p" failed its setup on this task thread: RangeError: no table here/);

    await c.client.registerWorkerPlugin(recorder("p", "first"));
    assert.ok((await everyThread(c.client, "p", 8)).every((s) => s.plugin?.tag === "first"));
    await c.client.registerWorkerPlugin(recorder("p", "second"));
    assert.equal(torn(marks.dir, "first").length, 4, "the first value torn down on every thread");
    const second = await everyThread(c.client, "p", 8);
    assert.ok(second.every((s) => s.plugin?.tag === "second" && s.plugin.setups === 2), JSON.stringify(second));

    assert.deepEqual(await c.client.registerWorkerPlugin(recorder("p", "third"), { idempotent: true }), {}, "nothing asked of the workers");
    assert.ok((await everyThread(c.client, "p", 4)).every((s) => s.plugin?.tag === "second"));

    // a teardown that throws, met when the name is registered again: the new one is up, and the error says whose teardown failed
    await c.client.registerWorkerPlugin({ name: "q", setup: () => 1, teardown: () => { throw new Error("cannot close"); } });
    await assert.rejects(
      c.client.registerWorkerPlugin({ name: "q", setup: () => 2 }),
      (e: unknown) => e instanceof WorkerPluginError && /its setup failed on worker .*: Error: the new plugin is set up, but the teardown of the one of that name it replaces failed: Error: cannot close$/.test(e.message),
    );
    assert.ok((await everyThread(c.client, "q", 8)).every((s) => (s.plugin as unknown) === 2));
  });

  // Protects: a thread that dies is replaced with the plugins set up before its first task; a
  // setup that ends its own thread is reported and not run again on the replacement (which
  // would die too, forever), and tasks there go on, finding the plugin failed; restart()'s fresh
  // threads set the plugins up again; the worker's close runs the teardowns.
  it("replacement threads, a setup that kills its thread, restart() and the worker's close", async () => {
    await c.client.registerWorkerPlugin(recorder("rec", "r"));
    const [first] = await everyThread(c.client, "rec", 1);
    // this task ends its thread; its replacement sets the plugin up before the next task
    await assert.rejects(c.client.submit(() => process.exit(3), { pure: false }).result(), /task thread exited with code 3 while this task ran/);
    const after = await everyThread(c.client, "rec", 8);
    assert.ok(after.every((s) => s.plugin?.thread === s.thread && s.plugin.setups === 1), JSON.stringify(after));
    assert.equal(first!.plugin?.setups, 1);

    const err = await c.client.registerWorkerPlugin({ name: "killer", setup: () => process.exit(4) }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof WorkerPluginError, String(err));
    assert.match(err.message, /its setup failed on worker .*: WorkerThreadError: task thread exited with code 4 before it finished setting up worker plugin "killer"/);
    const killed = await everyThread(c.client, "killer", 8);
    for (const s of killed) assert.match(s.error ?? "", /worker plugin "killer" failed its setup on this task thread: task thread exited with code 4 while this plugin's setup ran/);
    await c.client.unregisterWorkerPlugin("killer");

    await c.client.restart();
    const fresh = await everyThread(c.client, "rec", 8);
    assert.ok(fresh.every((s) => s.plugin?.thread === s.thread && s.plugin.setups === 1), JSON.stringify(fresh));

    const before = torn(marks.dir, "r").length;
    await c.client.retireWorkers([Object.keys((await c.client.schedulerInfo()).workers)[0]!]);
    await waitFor("the retired worker's two teardowns", () => torn(marks.dir, "r").length >= before + 2, { timeoutMs: 20_000 });
  });

  // Protects: the client's bad input is a TypeError naming the value, before anything is sent.
  it("refuses a plugin without a name, functions that are not functions and bad options", async () => {
    const cl = c.client;
    await assert.rejects(cl.registerWorkerPlugin(null as never), /the plugin must be an object \{ name, setup\?, teardown\? \}, got null/);
    await assert.rejects(cl.registerWorkerPlugin({ setup: () => 1 } as never), /the plugin's name must be a non-empty string, got undefined/);
    await assert.rejects(cl.registerWorkerPlugin({ name: "x", setup: "load()" } as never), /plugin "x"'s setup must be a function, got the string "load\(\)"/);
    await assert.rejects(cl.registerWorkerPlugin({ name: "x" }, { timeout: -1 }), /timeout must be a number of milliseconds >= 0, got -1/);
    await assert.rejects(cl.registerWorkerPlugin({ name: "x" }, { timeout: Infinity }), /timeout must be finite \(each worker's setup or teardown is bounded\), got Infinity/);
    await assert.rejects(cl.registerWorkerPlugin({ name: "x" }, { idempotent: "yes" as never }), /idempotent must be true or false, got the string "yes"/);
    await assert.rejects(cl.unregisterWorkerPlugin(""), /the name must be a non-empty string, got the string ""$/);
    assert.throws(() => getWorker(), /getWorker\(\) was called outside a worker's task thread/);
    assert.throws(() => workerPlugin("x"), /workerPlugin\("x"\) was called outside a task thread/);
  });
});

describe("worker plugins and a journaled scheduler taken over (real processes)", function () {
  this.timeout(180_000);
  let tmp: ReturnType<typeof tempDir>;
  let client: Client | undefined;
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await cleanupProcs();
    tmp.remove();
  });

  // Protects: registrations are journaled: the scheduler taking over still has the plugin, a
  // worker joining it sets it up, and the workers that came back keep theirs as they were (no
  // second setup); an unregister before the crash stays done.
  it("the next scheduler has the plugins; workers that come back keep theirs, new ones set them up", async () => {
    tmp = tempDir();
    const journal = path.join(tmp.dir, "journal");
    const env = { DASK_MPI_TS_DISTRIBUTED__SCHEDULER__JOURNAL__DIRECTORY: journal, DASK_MPI_TS_LOG_LEVEL: "warn" };
    const workerEnv = () => ({ PLUGIN_TEST_DIR: tmp.dir });
    const cluster = await startProcessCluster(tmp.dir, { workers: 1, nthreads: 2, schedulerEnv: env, workerEnv });
    client = await Client.connect({ schedulerFile: cluster.file, timeout: 20_000, reconnectTimeout: 60_000 });
    await client.waitForWorkers(1, { timeout: 30_000 });
    await client.registerWorkerPlugin(recorder("kept", "k"));
    await client.registerWorkerPlugin(recorder("gone", "g"));
    await client.unregisterWorkerPlugin("gone");

    const address = () => (JSON.parse(readFileSync(cluster.file, "utf8")) as { address: string }).address;
    const old = address();
    cluster.scheduler.child.kill("SIGKILL");
    await cluster.scheduler.exited;
    const next: Proc = spawnProc(process.execPath, [BIN("dask-scheduler-ts"), "--scheduler-file", cluster.file, "--interface", "lo", "--no-dashboard"], { env });
    await waitFor("the scheduler taking over", () => existsSync(cluster.file) && address() !== old, { timeoutMs: 30_000, proc: next });
    spawnProc(process.execPath, [BIN("dask-worker-ts"), "--scheduler-file", cluster.file, "--interface", "lo", "--nthreads", "2", "--name", "new", "--no-nanny"], {
      env: { PLUGIN_TEST_DIR: tmp.dir, DASK_MPI_TS_LOG_LEVEL: "warn" },
    });
    await client.waitForWorkers(2, { timeout: 60_000 });
    const seen = await everyThread(client, "kept", 16);
    assert.ok(seen.every((s) => s.plugin?.thread === s.thread && s.plugin.setups === 1), `set up once on each thread: ${JSON.stringify(seen)}`);
    assert.ok((await everyThread(client, "gone", 8)).every((s) => /no worker plugin named "gone"/.test(s.error ?? "")));
    await client.unregisterWorkerPlugin("kept");
    assert.equal(torn(tmp.dir, "k").length, 4, "both workers' threads tore it down");
  });
});
