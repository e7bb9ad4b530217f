// OARCluster on a real single-node OAR 2.5 (Debian's packages, .ci/oar-setup.sh): scale up,
// compute, scale down, close with no job left in oarstat, explain() with OAR's message, and a
// job oarsub rejects. Jobs run as root here: the setup keeps their shells from sourcing
// root's ~/.bashrc without end (its guard in ~oar/.batch_job_bashrc).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Client, JobQueueError, OARCluster } from "../../src/index.js";
import { tempDir } from "../helpers/cluster.js";
import { TAG_VAR, taggedPids, waitFor } from "../helpers/proc.js";
import { ensureOar, oarstatIds } from "../helpers/queues.js";
import { skipIf } from "../helpers/skip.js";

const gone = (ids: string[]) => () => !oarstatIds().some((id) => ids.includes(id));

describe("job-queue clusters on real OAR [jobqueue]", function () {
  this.timeout(120_000);
  const tmp = tempDir("dask-mpi-ts-oar-");
  let tag = "";
  let cluster: OARCluster | undefined;

  before(function () {
    this.timeout(900_000);
    skipIf(this, ensureOar());
  });

  beforeEach(() => {
    tag = randomUUID();
    process.env[TAG_VAR] = tag;
  });

  afterEach(async () => {
    const ids = cluster?.jobs().map((j) => j.id) ?? [];
    await cluster?.close();
    cluster = undefined;
    delete process.env[TAG_VAR];
    await waitFor("the jobs to leave oarstat", gone(ids), { timeoutMs: 60_000 });
    await waitFor("the jobs' processes to end", () => taggedPids(tag).length === 0, { timeoutMs: 30_000 });
  });

  after(() => tmp.remove());

  // OAR hands the job no environment of the submitter: the test's tag goes in the prologue
  const create = (extra: Parameters<typeof OARCluster.create>[0] = {}) =>
    OARCluster.create({
      cores: 1, memory: "512MiB", walltime: "00:10:00", interface: "lo", deathTimeout: 10, logDirectory: tmp.dir, sharedTempDirectory: tmp.dir, jobStatusInterval: 300,
      jobScriptPrologue: [`export ${TAG_VAR}=${tag}`], ...extra,
    });

  it("scale(2): two OAR jobs, two workers named after them compute; scale(1) ends one; close() leaves none in oarstat", async () => {
    cluster = await create();
    assert.match(cluster.jobScript(), /^#OAR -n dask-worker\n#OAR -l \/nodes=1\/core=1,walltime=00:10:00\n/m);
    await cluster.scale(2);
    const ids = cluster.jobs().map((j) => j.id);
    assert.equal(ids.length, 2);
    assert.ok(ids.every((id) => oarstatIds().includes(id)), "both jobs are in oarstat");
    const client = await Client.connect(cluster);
    try {
      await client.waitForWorkers(2, { timeout: 90_000 });
      const names = Object.values((await client.schedulerInfo()).workers).map((w) => w.name).sort();
      assert.deepEqual(names, ids.map((id) => `dask-worker-${id}`).sort());
      assert.ok(taggedPids(tag).length >= 4, "the leak check sees the jobs' processes");
      assert.deepEqual(await client.gather(client.map((x: number) => x * 3, [1, 2, 3])), [3, 6, 9]);
      await cluster.scale(1);
      await waitFor("one job left", () => oarstatIds().filter((id) => ids.includes(id)).length === 1, { timeoutMs: 60_000 });
    } finally {
      await client.close();
    }
  });

  it("explain() gives OAR's state and message for a job that waits (a third job on a 2-core node, behind two that hold it)", async () => {
    cluster = await create();
    await cluster.scale(3);
    const why = await waitFor("OAR's message for a waiting job", async () => {
      const r = await cluster!.explain();
      return r.queue?.jobs.some((j) => j.state === "pending" && /^Waiting/.test(j.reason ?? "")) ? r : undefined;
    }, { timeoutMs: 60_000 });
    assert.ok(why.answer.some((l) => /^oar: job \d+ \(pool default\) is pending: Waiting/.test(l)), why.answer.join("\n"));
  });

  it("a job oarsub rejects fails scale() with the command, exit code and oarsub's error", async () => {
    cluster = await create({ queue: "no-such-queue" });
    const err = await cluster.scale(1).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof JobQueueError, `got ${err}`);
    assert.match(err.message, /^job submission failed: `oarsub -S \S+job\.sh` exited with code \d+: .*no-such-queue/s);
    assert.deepEqual(cluster.jobs(), []);
  });
});
