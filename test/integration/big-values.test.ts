// Values near the frame cap between workers (distributed.comm.max-frame-size, here 1 MiB so the
// test moves little): dependencies too big together travel one by one, one too big alone errs
// its task with the reason. Real scheduler, workers and TCP on 127.0.0.1.
import assert from "node:assert/strict";
import { RemoteTaskError } from "../../src/index.js";
import { DEFAULT_COMM } from "../../src/comm/connect.js";
import { type InprocCluster, withCluster } from "../helpers/cluster.js";

describe("values near the frame cap between workers", function () {
  this.timeout(60_000);
  let cluster: InprocCluster;

  before(async () => {
    cluster = await withCluster({ mode: "inproc", protocol: "tcp", workers: 2, nthreads: 1, worker: () => ({ comm: { ...DEFAULT_COMM, maxFrameBytes: 1 << 20 } }) });
  });
  after(() => cluster.cleanup());

  const bytes = (n: number, v: number) => new Uint8Array(n).fill(v);

  // Protects: two dependencies that fitted one by one came as one frame over the cap, and the
  // task waiting for them never ran nor erred
  it("two dependencies that fit one by one but not together reach the task", async () => {
    const { client } = cluster;
    const a = client.submit(bytes, 700 * 1024, 4, { workers: ["w0"], pure: false });
    const b = client.submit(bytes, 700 * 1024, 5, { workers: ["w0"], pure: false });
    const sum = client.submit((x: Uint8Array, y: Uint8Array) => [x.length + y.length, x[1], y[y.length - 1]], a, b, { workers: ["w1"], pure: false });
    assert.deepEqual(await sum.result({ timeout: 30_000 }), [1400 * 1024, 4, 5]);
  });

  // Protects: a dependency over the cap was refused at every try, and its task hung for good
  it("a dependency over the cap errs its task with FrameTooLargeError naming it", async () => {
    const { client } = cluster;
    const big = client.submit(bytes, 2 << 20, 3, { workers: ["w0"], pure: false });
    const use = client.submit((x: Uint8Array) => x.length, big, { workers: ["w1"], pure: false });
    await assert.rejects(use.result({ timeout: 30_000 }), (err: Error) => {
      assert.ok(err instanceof RemoteTaskError);
      assert.equal(err.remoteName, "FrameTooLargeError");
      assert.match(err.remoteMessage, new RegExp(`^dependency "${big.key}" on tcp://\\S+ is \\d+ bytes as one frame, over this worker's distributed.comm.max-frame-size \\(1048576 bytes\\)`));
      return true;
    });
    // the cluster goes on
    assert.equal(await client.submit((x: number) => x + 1, 1, { workers: ["w1"], pure: false }).result({ timeout: 10_000 }), 2);
  });
});
