// Hostile bytes against a real cluster's ports: every process stays up with bounded memory,
// and a legitimate client still works afterwards. Many of the messages are malformed from the
// message parsers' own field tables (protocol/messages-*.ts), so every op's fields are hit. `npm run fuzz` runs the long version
// (FUZZ_FRAMES=200000); FUZZ_SEED replays a run.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Client } from "../../src/index.js";
import { fuzz } from "../fuzz/fuzzer.js";
import { startProcessCluster, tempDir } from "../helpers/cluster.js";
import { cleanupProcs, type Proc } from "../helpers/proc.js";

const rssMiB = (p: Proc): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.child.pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
};

describe("wire fuzzing (real processes)", function () {
  this.timeout(Math.max(120_000, Number(process.env.FUZZ_FRAMES ?? 0) * 10));
  const tmp = tempDir();
  after(async () => {
    await cleanupProcs();
    tmp.remove();
  });

  const frames = Number(process.env.FUZZ_FRAMES ?? 10_000);
  it(`${frames.toLocaleString("en-US")} hostile frames to scheduler and worker ports: all stay up, memory bounded, a real client still works`, async () => {
    const cluster = await startProcessCluster(tmp.dir, { workers: 2, nanny: false });
    const { address, secret } = JSON.parse(readFileSync(cluster.file, "utf8")) as { address: string; secret: string };
    let client = await Client.connect(address, { secret });
    await client.waitForWorkers(2, { timeout: 30_000 });
    const workers = Object.keys((await client.schedulerInfo()).workers);
    await client.close();
    const procs = [cluster.scheduler, ...cluster.workers];
    const before = procs.map(rssMiB);

    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1e9);
    const stats = await fuzz([{ address, secret }, ...workers.map((w) => ({ address: w, secret }))], { frames, seed });
    assert.ok(stats.frames >= frames && stats.authenticated > frames / 100 && stats.shaped > frames / 10, `sent ${JSON.stringify(stats)}`);

    for (const p of procs) assert.equal(p.exitCode(), undefined, `a process died under fuzzing (seed ${seed}):\n${p.stderr.slice(-3000)}`);
    const after = procs.map(rssMiB);
    after.forEach((mib, i) => assert.ok(mib < before[i]! + 200, `RSS grew from ${before[i]} to ${mib} MiB (seed ${seed})`));
    // the refusals were logged with reasons, and the secret never was
    const logs = procs.map((p) => p.stderr).join("");
    assert.match(logs, /closing connection after a protocol error|refused unauthenticated connection/);
    assert.ok(!logs.includes(secret), "the secret appeared in a log");

    client = await Client.connect(address, { secret });
    try {
      await client.waitForWorkers(2, { timeout: 30_000 });
      const futures = client.map((x: number) => x * 2, Array.from({ length: 200 }, (_, i) => i));
      const total = client.submit((xs: number[]) => xs.reduce((a, b) => a + b, 0), futures);
      assert.equal(await total.result({ timeout: 30_000 }), 200 * 199);
    } finally {
      await client.close();
    }
  });
});
