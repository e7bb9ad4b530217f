// Values near the frame cap between workers (distributed.comm.max-frame-size, here 1 MiB so the
// test moves little): dependencies too big together travel one by one, one too big alone errs
// its task with the reason. Real scheduler, workers and TCP on 127.0.0.1.
import assert from "node:assert/strict";
import { Client, Pub, Queue, RemoteTaskError, Sub, Variable } from "../../src/index.js";
import { DEFAULT_COMM } from "../../src/comm/connect.js";
import { frameTooLarge } from "../../src/errors.js";
import { type InprocCluster, withCluster } from "../helpers/cluster.js";

describe("values near the frame cap between workers", function () {
  this.timeout(60_000);
  let cluster: InprocCluster;

  before(async () => {
    cluster = await withCluster({ mode: "inproc", protocol: "tcp", workers: 2, nthreads: 1, scheduler: { comm: { ...DEFAULT_COMM, maxFrameBytes: 2 << 20 } }, worker: () => ({ comm: { ...DEFAULT_COMM, maxFrameBytes: 1 << 20 } }) });
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

  // Protects: an argument over the scheduler's frame cap closed the client's connection, and
  // the client failed everything with "the scheduler was lost"; a value scattered over a
  // worker's cap closed that connection with no word of why
  it("an argument over the scheduler's cap, or a value over a worker's, is refused naming it; the client goes on", async () => {
    const { client } = cluster;
    assert.throws(() => client.submit((x: Uint8Array) => x.length, bytes(3 << 20, 1)), /^FrameTooLargeError: the arguments: \d+ bytes encoded, over the largest frame the scheduler takes \(2097152 bytes, its distributed.comm.max-frame-size, less 131072 for the message\): split the data, or raise distributed.comm.max-frame-size on the scheduler and the workers/);
    assert.throws(() => client.map((x: Uint8Array) => x.length, [bytes(1, 1), bytes(3 << 20, 1)]), /^FrameTooLargeError: map item 2, the arguments: \d+ bytes encoded/);
    await assert.rejects(client.scatter([bytes(10, 1), bytes(1200 * 1024, 2)], { workers: ["w0"] }), /^FrameTooLargeError: value 2: \d+ bytes encoded, over the largest frame the worker tcp:\/\/\S+ takes \(1048576 bytes/);
    await assert.rejects(new Variable<Uint8Array>("big", { client }).set(bytes(3 << 20, 1)), /^FrameTooLargeError: the value for Variable "big": \d+ bytes encoded, over the largest frame the scheduler takes/);
    await assert.rejects(client.runOnScheduler((x: Uint8Array) => x.length, bytes(3 << 20, 1)), /^FrameTooLargeError: runOnScheduler's arguments: \d+ bytes encoded/);
    // what fits travels, in as many messages as it needs
    const [a, b] = await client.scatter([bytes(600 * 1024, 3), bytes(600 * 1024, 4)], { workers: ["w0"] });
    assert.deepEqual(await client.submit((x: Uint8Array, y: Uint8Array) => [x[0], y[0], x.length + y.length], a!, b!, { workers: ["w0"], pure: false }).result({ timeout: 10_000 }), [3, 4, 1200 * 1024]);
    // three that fit the scheduler's cap and the workers' one by one, not together: several messages each way
    const three = client.map((x: Uint8Array) => x[x.length - 1], [bytes(900 * 1024, 5), bytes(900 * 1024, 6), bytes(900 * 1024, 7)], { pure: false });
    assert.deepEqual(await client.gather(three, { timeout: 10_000 }), [5, 6, 7]);
    // one that fits the scheduler's but not a worker's: the task errs naming both sizes
    const count = (x: Uint8Array) => x.byteLength;
    const kept = client.submit(bytes, 10, 7, { workers: ["w0"], pure: false });
    await kept.whenDone();
    const tooBigForWorkers = client.submit(count, bytes(1500 * 1024, 8), { pure: false, workers: ["w0"] });
    await assert.rejects(tooBigForWorkers.result({ timeout: 10_000 }), (err: Error) => {
      assert.ok(err instanceof RemoteTaskError);
      assert.equal(err.remoteName, "FrameTooLargeError");
      assert.match(err.remoteMessage, new RegExp(`^the arguments of "${tooBigForWorkers.key}" are \\d+ bytes, over the largest frame the worker tcp://\\S+ takes \\(1048576 bytes`));
      return true;
    });
    // its function was never sent, and is not taken for sent: the next task of it runs
    assert.equal(await client.submit(count, bytes(10, 1), { pure: false, workers: ["w0"] }).result({ timeout: 10_000 }), 10);
    // and w0 kept its connection (a compute-task naming a function never sent closed it, and
    // w0's results were lost with it): its earlier result went to memory once
    assert.equal((await client.story(kept.key)).filter((e) => e.to === "memory").length, 1);
  });

  // Protects: a run result over the scheduler's cap closed the worker's connection to it (the
  // worker then lost every result it held), and one over the client's closed the client's
  it("results of run and runOnScheduler over the receiver's cap are errors naming them; every connection stays", async () => {
    const { client, address, secret } = cluster;
    const held = client.submit(bytes, 10, 9, { workers: ["w0"], pure: false });
    await held.whenDone();
    await assert.rejects(client.run(() => new Uint8Array(3 << 20), { workers: ["w0"] }), /FrameTooLargeError: the result of run: \d+ bytes encoded, over the largest frame the scheduler takes \(2097152 bytes/);
    const small = await Client.connect(address, { secret, maxFrameSize: 1 << 20 });
    try {
      await assert.rejects(small.runOnScheduler(() => new Uint8Array(1100 * 1024)), /^RemoteTaskError.*FrameTooLargeError: the result of runOnScheduler: \d+ bytes encoded, over the largest frame the client takes \(1048576 bytes/);
      await assert.rejects(small.run(() => new Uint8Array(600 * 1024)), /FrameTooLargeError: the results of run from 2 workers: \d+ bytes encoded, over the largest frame the client takes/);
      assert.equal(await small.submit((x: number) => x * 2, 21, { pure: false }).result({ timeout: 10_000 }), 42);
    } finally {
      await small.close();
    }
    // the worker kept its connection, and so its results: the key was never lost and made again
    assert.deepEqual(await held.result({ timeout: 10_000 }), bytes(10, 9));
    const story = await client.story(held.key);
    assert.equal(story.filter((e) => e.to === "memory").length, 1, JSON.stringify(story));
  });

  // Protects: a shared value (Variable, Queue item, dataset, published item) that fitted the
  // scheduler's frames but not a getting client's was written anyway: that client's connection
  // closed on the frame and every future it had was lost. Now the get fails naming the value and
  // both sizes, the value stays for others, and the client goes on.
  it("a Variable, Queue item, dataset or published item over a getter's cap is an error naming it; the value stays, the client goes on", async () => {
    const { client, address, secret } = cluster;
    const value = bytes(1500 * 1024, 6);
    const small = await Client.connect(address, { secret, maxFrameSize: 1 << 20 });
    try {
      const pending = small.submit((x: number) => x + 1, 1, { pure: false }); // a future that must survive
      const sub = new Sub<Uint8Array>("big-pub", { client: small });
      const bigSub = new Sub<Uint8Array>("big-pub", { client });
      const tooBig = (what: string) => (err: Error) => {
        assert.match(String(err), new RegExp(`^CoordinationError: ${what}: \\d+ bytes encoded, over the largest frame the client ${small.id} takes \\(1048576 bytes, its distributed.comm.max-frame-size`));
        assert.equal(frameTooLarge(err)?.limit, 1 << 20, "the FrameTooLargeError is its cause");
        return true;
      };
      await new Variable<Uint8Array>("big-var", { client }).set(value);
      await assert.rejects(new Variable<Uint8Array>("big-var", { client: small }).get({ timeout: 10_000 }), tooBig('Variable "big-var": its value'));
      await new Queue<Uint8Array>("big-queue", { client }).put(value);
      await assert.rejects(new Queue<Uint8Array>("big-queue", { client: small }).get({ timeout: 10_000 }), tooBig('Queue "big-queue": its next item'));
      await client.publishDataset("big-dataset", value);
      await assert.rejects(small.getDataset("big-dataset"), tooBig('dataset "big-dataset"'));
      new Pub<Uint8Array>("big-pub", { client }).put(value);
      await assert.rejects(sub.get({ timeout: 10_000 }), tooBig('Sub "big-pub": a published item'));
      new Pub<Uint8Array>("big-pub", { client }).put(bytes(10, 2));
      assert.deepEqual(await sub.get({ timeout: 10_000 }), bytes(10, 2), "the items after it still come");
      // every value stayed for a client that can take it, and the small client goes on
      assert.equal((await bigSub.get({ timeout: 10_000 })).length, value.length);
      assert.equal((await new Variable<Uint8Array>("big-var", { client }).get({ timeout: 10_000 })).length, value.length);
      assert.equal((await new Queue<Uint8Array>("big-queue", { client }).get({ timeout: 10_000 })).length, value.length);
      assert.equal((await client.getDataset<Uint8Array>("big-dataset")).length, value.length);
      assert.equal(await pending.result({ timeout: 10_000 }), 2);
      assert.equal(await small.submit((x: number) => x * 2, 21, { pure: false }).result({ timeout: 10_000 }), 42);
      sub.close();
      bigSub.close();
      await client.unpublishDataset("big-dataset");
    } finally {
      await small.close();
    }
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

// Values past the 4 GiB a frame can carry at all: 4,400 buffers of 1 MiB - 1, never touched (so
// no memory is committed; under 1 MiB a task thread moves its result's buffers rather than
// copying them into shared memory). Protects: the holder's reply could not be written, its
// connection closed, and the gather and the dependent task retried it until their timeouts (a
// hang, without a word).
describe("values over a frame's 4 GiB cap", function () {
  this.timeout(120_000);
  let cluster: InprocCluster;

  before(async () => {
    cluster = await withCluster({ mode: "inproc", protocol: "tcp", workers: 2, nthreads: 1 });
  });
  after(() => cluster.cleanup());

  const huge = () => Array.from({ length: 4400 }, () => Buffer.allocUnsafeSlow((1 << 20) - 1));

  it("a result over the cap stays on its worker: gather and a dependent elsewhere fail naming it; sending one is refused", async () => {
    const { client } = cluster;
    const made = client.submit(huge, { workers: ["w0"], pure: false });
    await made.whenDone();
    assert.equal(made.status, "finished", "a result may be bigger than a frame: it stays where it was made");
    const elsewhere = client.submit((x: Buffer[]) => x.length, made, { workers: ["w1"], pure: false });
    await assert.rejects(elsewhere.result({ timeout: 60_000 }), (err: Error) => {
      assert.ok(err instanceof RemoteTaskError);
      assert.equal(err.remoteName, "FrameTooLargeError");
      assert.match(err.remoteMessage, new RegExp(`^dependency "${made.key}" on tcp://\\S+ is \\d+ bytes, more than one frame can carry \\(4 GiB - 1 bytes\\): it cannot move to another worker`));
      return true;
    });
    await assert.rejects(made.result({ timeout: 60_000 }), new RegExp(`^FrameTooLargeError: the value of "${made.key}" on tcp://\\S+ is \\d+ bytes, more than one frame can carry \\(4 GiB - 1 bytes\\): it cannot be gathered`));
    made.release();
    const big = huge();
    assert.throws(() => client.submit((x: Buffer[]) => x.length, big), /^FrameTooLargeError: the arguments: \d+ bytes encoded, more than one frame can carry \(4 GiB - 1 bytes\): it cannot be sent to a worker/);
    await assert.rejects(client.scatter([big]), /^FrameTooLargeError: value 1: \d+ bytes encoded, more than one frame can carry/);
    // the cluster goes on
    assert.equal(await client.submit((x: number) => x + 1, 1, { workers: ["w1"], pure: false }).result({ timeout: 10_000 }), 2);
  });
});
