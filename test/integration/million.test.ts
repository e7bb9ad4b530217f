// A million tasks end to end (issue 15, point 5), for correctness only (rates and memory are in
// the bench: BENCH_ONLY=scale-million): a map of 1M tasks gathered, and a tree reduction of 1M
// leaves, on 2 real workers under nannies, every value checked. In the suite at 200k (about two
// minutes on 2 loaded cores; 1M takes 15-20 there, too long for CI's budget, and the bench's
// scale-million section checks every value at 1M): DASK_MPI_TS_MILLION_N=1000000 runs it at 1M.
import assert from "node:assert/strict";
import type { Future } from "../../src/index.js";
import { type ProcessClusterHandle, withCluster } from "../helpers/cluster.js";
import { waitFor } from "../helpers/proc.js";

const env = Number(process.env.DASK_MPI_TS_MILLION_N);
const N = Number.isInteger(env) && env > 0 ? env : 200_000;
const FANIN = 8;

describe(`a map and a tree of many tasks on 2 real workers (${N.toLocaleString("en")})`, function () {
  // generous: ~2,000 tasks/s at the worst load seen, for the map and the tree's ~1.15 N
  this.timeout(60_000 + N * 2.5);
  let c: ProcessClusterHandle | undefined;

  before(async () => {
    c = await withCluster({ mode: "process", workers: 2, nthreads: 1 });
  });
  after(async () => {
    await c?.cleanup();
  });

  it("map of N + gather: every value", async () => {
    const client = c!.client;
    const futures = client.map((x: number) => x + 1, Array.from({ length: N }, (_, i) => i), { pure: false });
    const out = await client.gather(futures);
    assert.equal(out.length, N);
    for (let i = 0; i < N; i++) if (out[i] !== i + 1) assert.fail(`value ${i} is ${out[i]}, expected ${i + 1}`);
    for (const f of futures) f.release();
  });

  it(`tree reduction of N leaves, ${FANIN} at a time: the sum`, async () => {
    const client = c!.client;
    const sum = (...xs: number[]) => xs.reduce((a, b) => a + b, 0);
    let layer: Array<Future<number>> = client.map((x: number) => x + 1, Array.from({ length: N }, (_, i) => i), { pure: false });
    const all = layer.slice(); // not push(...layer): a million arguments overflow the stack
    while (layer.length > 1) {
      const groups = Math.ceil(layer.length / FANIN);
      const cols = Array.from({ length: FANIN }, (_, j) => Array.from({ length: groups }, (_, g) => layer[g * FANIN + j] ?? 0));
      layer = (client.map as (fn: typeof sum, ...rest: unknown[]) => Array<Future<number>>)(sum, ...cols, { pure: false });
      for (const f of layer) all.push(f);
    }
    assert.equal(await layer[0]!.result(), (N * (N + 1)) / 2);
    for (const f of all) f.release();
    // everything let go is forgotten by the scheduler
    const known = () => client.runOnScheduler((ctx: { scheduler: { state: { tasks: { size: number } } } }) => ctx.scheduler.state.tasks.size);
    await waitFor("the scheduler to forget every task", async () => (await known()) === 0, { timeoutMs: 120_000, intervalMs: 500 });
  });
});
