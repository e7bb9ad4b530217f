// Dask's restart_workers on real processes: a worker under a nanny closes and a fresh process
// of the same name takes its place; what only it held is computed again; a worker without a
// nanny, an unknown name and bad arguments are errors naming them.
import assert from "node:assert/strict";
import { BIN, type ProcessClusterHandle, withCluster } from "../helpers/cluster.js";
import { spawnProc } from "../helpers/proc.js";

describe("restartWorkers (real processes)", function () {
  this.timeout(120_000);
  let c: ProcessClusterHandle;
  beforeEach(async () => {
    c = await withCluster({ mode: "process", workers: 2, nthreads: 1 });
  });
  afterEach(async () => c?.cleanup());

  const addressOf = async (name: string) => Object.entries((await c.client.schedulerInfo()).workers).find(([, w]) => w.name === name)?.[0];

  // Protects: the worker's process is replaced (a new pid, registered under the same name, at
  // the address the call returns), the other worker is left alone, and a value only the
  // restarted worker held is computed again when wanted, not lost or wrong.
  it("replaces the worker's process under its nanny; its values are computed again", async () => {
    const pids = async () => await c.client.run(() => process.pid);
    const before = await pids();
    const w0 = (await addressOf("w0"))!;
    const w1 = (await addressOf("w1"))!;
    const f = c.client.submit((x: number) => x * 2, 21, { workers: ["w0"] });
    assert.equal(await f.result(), 42);
    assert.deepEqual(await c.client.whoHas([f]), { [f.key]: [w0] });

    const r = await c.client.restartWorkers(["w0"]);
    const fresh = r.w0!;
    assert.equal(fresh, await addressOf("w0"), "the address the call returned is the fresh worker's");
    const after = await pids();
    assert.notEqual(after[fresh], before[w0], "a new process");
    assert.equal(after[w1], before[w1], "the other worker untouched");
    assert.deepEqual((await c.client.gather([f], { timeout: 30_000 })), [42], "computed again");
    const where = (await c.client.whoHas([f]))[f.key]!;
    assert.ok(where.length === 1 && where[0] !== w0, `held again, by a live worker: ${where}`);
  });

  // Protects: the errors name what is wrong: a worker without a nanny (nothing would start it
  // again: it keeps running), an unknown worker, and bad arguments.
  it("refuses a worker without a nanny, an unknown one and bad arguments, naming them", async () => {
    spawnProc(process.execPath, [BIN("dask-worker-ts"), "--scheduler-file", c.file, "--interface", "lo", "--name", "solo", "--no-nanny"], { env: { DASK_MPI_TS_LOG_LEVEL: "warn" } });
    await c.client.waitForWorkers(3, { timeout: 30_000 });
    await assert.rejects(c.client.restartWorkers(["solo"]), /restartWorkers: worker solo \(tcp:\/\/[^)]+\): worker solo runs without a nanny \(--no-nanny\): nothing would start it again; retire it and start another/);
    assert.ok(await addressOf("solo"), "it is still there");
    await assert.rejects(c.client.restartWorkers(["nope"]), /restartWorkers: unknown worker "nope" \(workers: /);
    await assert.rejects(c.client.restartWorkers("w0" as never), /restartWorkers' argument must be a list of worker names or addresses, got "w0"|got the string "w0"/);
    await assert.rejects(c.client.restartWorkers(["w0"], { timeout: Infinity }), /restartWorkers: timeout must be finite \(a worker that does not come back is an error\), got Infinity/);
    assert.deepEqual(await c.client.restartWorkers([]), {});
  });
});
