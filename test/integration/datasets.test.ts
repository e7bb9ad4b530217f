// Datasets (issue 14, point 4) between real clients: published futures outlive their
// publisher, another client gets futures of its own for the same keys, and keys are let go
// once unpublished and released.
import assert from "node:assert/strict";
import { Client, CoordinationError, type Future, TimeoutError } from "../../src/index.js";
import { type InprocCluster, withCluster } from "../helpers/cluster.js";
import { waitFor } from "../helpers/proc.js";

describe("datasets (real clients)", function () {
  this.timeout(120_000);
  let c: InprocCluster;
  const clients: Client[] = [];
  const connect = async () => {
    const o = await Client.connect(c.address, { secret: c.secret });
    clients.push(o);
    return o;
  };

  before(async () => {
    c = await withCluster({ mode: "inproc", workers: 2 });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((o) => o.close()));
    for (const name of await c.client.listDatasets()) await c.client.unpublishDataset(name);
  });
  after(async () => c?.cleanup());

  // Protects: the scheduler keeps published keys after the publisher disconnects, a second
  // client gets the same keys as futures of its own (their results work), and once the dataset
  // is unpublished and that client releases its futures, the cluster forgets the keys.
  it("a second client gets the published futures after the publisher closed; release works", async () => {
    const publisher = await connect();
    const f = publisher.submit((x: number) => x * 2, 21, { key: "ds-42" });
    const [s] = await publisher.scatter<Float64Array>([new Float64Array([1, 2, 3])]);
    await publisher.publishDataset("results", { f, s, note: "plain too" });
    await publisher.close();
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(c.scheduler.state.tasks.has("ds-42"), "the key outlives its publisher");

    const reader = await connect();
    assert.deepEqual(await reader.listDatasets(), ["results"]);
    const got = await reader.getDataset<{ f: Future<number>; s: Future<Float64Array>; note: string }>("results");
    assert.equal(got.f.key, "ds-42");
    assert.equal(got.f.client, reader, "a future of the reading client");
    assert.equal(await got.f.result(), 42);
    assert.deepEqual([...(await got.s.result())], [1, 2, 3]);
    assert.equal(got.note, "plain too");

    await reader.unpublishDataset("results");
    assert.ok(c.scheduler.state.tasks.has("ds-42"), "the reader's futures keep it alive");
    got.f.release();
    got.s.release();
    await waitFor("the keys to be forgotten", () => !c.scheduler.state.tasks.has("ds-42") && !c.scheduler.state.tasks.has(s!.key), { timeoutMs: 20_000 });
  });

  // Protects: the bad input of datasets is a clear error naming the dataset: a name published
  // twice (unless override), an unknown name (at once without a timeout, as Dask's KeyError),
  // a wait that times out; and getDataset with a timeout waits for a late publish.
  it("errors name the dataset; override replaces; a get waits for a late publish", async () => {
    await c.client.publishDataset("cfg", { a: 1 });
    await assert.rejects(c.client.publishDataset("cfg", { a: 2 }), (e: Error) => e instanceof CoordinationError && /dataset "cfg" is already published; .* \{ override: true \}/.test(e.message));
    await c.client.publishDataset("cfg", { a: 2 }, { override: true });
    assert.deepEqual(await c.client.getDataset("cfg"), { a: 2 });
    await assert.rejects(c.client.getDataset("nope"), (e: Error) => e instanceof CoordinationError && /dataset "nope" is not published \(published: "cfg"\)/.test(e.message));
    await assert.rejects(c.client.getDataset("nope", { timeout: 100 }), (e: Error) => e instanceof TimeoutError && /dataset "nope": waiting for it to be published timed out after 100 ms/.test(e.message));
    await assert.rejects(c.client.unpublishDataset("nope"), /dataset "nope" is not published, so it cannot be unpublished/);
    const other = await connect();
    const late = other.getDataset("late", { timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 100));
    await c.client.publishDataset("late", [1, 2, 3]);
    assert.deepEqual(await late, [1, 2, 3]);
    await assert.rejects(c.client.publishDataset("", 1), /dataset name must be a non-empty string, got ""/);
  });

  // Protects: a released future cannot be published (its key is gone): the error names it.
  it("publishing a future the scheduler no longer knows is refused", async () => {
    const f = c.client.submit((x: number) => x, 1, { key: "gone-1" });
    await f.result();
    f.release();
    await waitFor("the key to be forgotten", () => !c.scheduler.state.tasks.has("gone-1"), { timeoutMs: 20_000 });
    await assert.rejects(c.client.publishDataset("gone", { f }), (e: Error) => e instanceof CoordinationError && /dataset "gone": the scheduler no longer knows "gone-1"/.test(e.message));
    assert.deepEqual(await c.client.listDatasets(), [], "nothing was published");
  });
});
