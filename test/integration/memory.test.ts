// Memory limits on real worker processes: pause above `pause`, the nanny's restart above
// `terminate` (and KilledWorkerError for a task that always does that).
import assert from "node:assert/strict";
import { Client, KilledWorkerError } from "../../src/index.js";
import { startProcessCluster, tempDir } from "../helpers/cluster.js";
import { cleanupProcs, waitFor } from "../helpers/proc.js";

describe("memory limits on real processes", function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  let client: Client | undefined;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await cleanupProcs();
    tmp.remove();
  });

  it("a task that grows past terminate is restarted by the nanny and ends as KilledWorkerError; others finish", async () => {
    // w0 has a 300 MB limit (terminate at 95%); w1 has no limit
    const c = await startProcessCluster(tmp.dir, { workers: 2, workerArgs: (i) => ["--memory-limit", i === 0 ? "300MB" : "0"] });
    client = await Client.connect({ schedulerFile: c.file, timeout: 20_000 });
    await client.waitForWorkers(2, { timeout: 20_000 });
    const hog = client.submit(
      async () => {
        const b = Buffer.alloc(400e6, 1); // resident: zero-filled, then written
        await new Promise((r) => setTimeout(r, 3000));
        return b.length;
      },
      { workers: ["w0"] },
    );
    const others = client.map((x: number) => x * 2, [1, 2, 3], { workers: ["w1"] });
    assert.deepEqual(await client.gather(others), [2, 4, 6]);
    await assert.rejects(hog.result({ timeout: 90_000 }), (err: unknown) => {
      assert.ok(err instanceof KilledWorkerError, String(err));
      return true;
    });
    assert.match(c.workers[0]!.stderr, /memory above the terminate threshold/);
    await client.waitForWorkers(2, { timeout: 20_000 });
  });

  it("a worker above its pause threshold is paused: the scheduler sends work elsewhere", async () => {
    // w0: 1 GB limit, pause at 20% (200 MB), terminate off
    const c = await startProcessCluster(tmp.dir, {
      workers: 2,
      workerArgs: (i) => (i === 0 ? ["--memory-limit", "1GB", "--memory-pause", "0.2", "--memory-terminate", "false"] : ["--memory-limit", "0"]),
    });
    client = await Client.connect({ schedulerFile: c.file, timeout: 20_000 });
    await client.waitForWorkers(2, { timeout: 20_000 });
    const big = client.submit(() => Buffer.alloc(300e6, 1), { workers: ["w0"] });
    await big.whenDone({ timeout: 30_000 });
    await waitFor(
      "w0 to report itself paused",
      async () => Object.values((await client!.schedulerInfo()).workers).find((w) => w.name === "w0")?.status === "paused",
      { timeoutMs: 15_000 },
    );
    assert.match(c.workers[0]!.stderr, /pausing: memory above the pause threshold/);
    // loose restriction: prefers w0, but w0 is paused, so w1 does it
    const pid = await client.submit(() => process.pid, { workers: ["w0"], allowOtherWorkers: true }).result({ timeout: 20_000 });
    const w1 = Object.values((await client.schedulerInfo()).workers).find((w) => w.name === "w1")!;
    assert.equal(pid, w1.pid);
  });
});
