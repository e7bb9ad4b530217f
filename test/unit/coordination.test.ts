// The scheduler side of datasets and coordination primitives, without sockets: a fake
// SchedulerView records which keys are wanted by whom; the primitives' tables are fed ops.
import assert from "node:assert/strict";
import { Coordination } from "../../src/extensions/coordination/index.js";
import { Datasets } from "../../src/extensions/datasets.js";
import { WaitList } from "../../src/extensions/waiters.js";
import type { SchedulerView } from "../../src/scheduler/extension.js";
import type { Message } from "../../src/protocol/messages.js";
import { SchedulerState, TaskState } from "../../src/scheduler/state.js";

/** A view whose scheduler knows `known` keys, recording wants (client -> keys) and pushes. */
function fakeView(known: string[]) {
  const wanted = new Map<string, Set<string>>();
  const sent: Array<[string, Message]> = [];
  const view = {
    wantKeys(client: string, keys: string[]) {
      const unknown = keys.filter((k) => !known.includes(k));
      for (const k of keys) if (known.includes(k)) wanted.set(k, (wanted.get(k) ?? new Set()).add(client));
      return unknown;
    },
    releaseKeys(client: string, keys: string[]) {
      for (const k of keys) wanted.get(k)?.delete(client);
    },
    handKeys(client: string, keys: string[]) {
      view.wantKeys(client, keys);
    },
    sendToClient(client: string, msg: Message) {
      sent.push([client, msg]);
      return true;
    },
  } as unknown as SchedulerView;
  return { view, wanted, sent };
}

const item = (keys: string[] = []) => ({ value: [new Uint8Array([0xc0])], keys });
/** A peer taking frames of 1 GiB (`as`), or of `max` bytes (`small`), as the extension ops get it. */
const frames = (max: number) => ({ share: max - Math.floor(max / 16), peerMaxFrameBytes: max });
const as = (id: string) => ({ id, frames: frames(1 << 30) });
const small = (id: string) => ({ id, frames: frames(1024) });

describe("coordination extension (no sockets)", () => {
  // Protects: leases are first come first served, a gone client's lease and waits end (its
  // waiter is never granted a lease it cannot release), and nothing is left behind.
  it("leases: FIFO waiters, a gone client's lease passes on, its waiter is dropped", async () => {
    const c = new Coordination(() => fakeView([]).view);
    const acq = (client: string, id: string, timeout = 10_000) =>
      c.handle("lease-acquire", { op: "lease-acquire", kind: "lock", name: "L", id, maxLeases: 1, timeout }, as(client));
    assert.equal(await acq("A", "a"), true);
    const b = acq("B", "b");
    const d = acq("D", "d");
    c.clientRemoved("B"); // B waits, then goes
    assert.equal(await b, false);
    c.clientRemoved("A"); // the holder goes: the next live waiter gets it
    assert.equal(await d, true);
    assert.deepEqual(c.leases.info("lock", "L"), { leases: 1, maxLeases: 1 });
    assert.equal(c.handle("lease-release", { op: "lease-release", kind: "lock", name: "L", id: "b" }, as("B")), false, "B never held it");
    assert.equal(c.handle("lease-release", { op: "lease-release", kind: "lock", name: "L", id: "d" }, as("D")), true);
    assert.equal(c.leases.size, 0, "no pool left behind");
    assert.throws(() => c.handle("lease-acquire", { op: "lease-acquire", kind: "lock", name: "L", id: "x", maxLeases: 0, timeout: 0 }, as("A")), /Lock "L": maxLeases must be an integer >= 1, got 0/);
    assert.throws(() => c.handle("lease-acquire", { op: "lease-acquire", kind: "latch", name: "L" }, as("A")), /lease-acquire: kind must be "lock" or "semaphore", got "latch"/);
  });

  // Protects: a queued future's key is held while queued and handed to the getter (wanted by it
  // before the queue lets go); a waiting put of a gone client gives its hold back.
  it("queues: keys held while queued, handed to the getter; a gone putter's item is dropped", async () => {
    const f = fakeView(["k1", "k2"]);
    const c = new Coordination(() => f.view);
    assert.equal(await c.handle("queue-put", { op: "queue-put", name: "q", maxsize: 1, timeout: 0, ...item(["k1"]) }, as("A")), true);
    assert.deepEqual([...f.wanted.get("k1")!], ["coordination"]);
    // the waiting item holds k1 too: dropping it must let go of it once, not twice
    const blocked = c.handle("queue-put", { op: "queue-put", name: "q", maxsize: 1, timeout: 10_000, ...item(["k1", "k2"]) }, as("A")) as Promise<boolean>;
    c.clientRemoved("A");
    assert.equal(await blocked, false);
    assert.equal(f.wanted.get("k2")?.has("coordination"), false, "the dropped item's key is let go");
    assert.deepEqual([...f.wanted.get("k1")!], ["coordination"], "k1 is still held for the queued item");
    const got = (await c.handle("queue-get", { op: "queue-get", name: "q", batch: 0, timeout: 0 }, as("B"))) as { items: unknown[] };
    assert.equal(got.items.length, 1);
    assert.deepEqual([...f.wanted.get("k1")!], ["B"], "the getter wants it; the queue let go");
    assert.equal(c.handle("queue-size", { op: "queue-size", name: "q" }, as("B")), 0);
    await assert.rejects(async () => c.handle("queue-put", { op: "queue-put", name: "q", maxsize: 0, timeout: 0, ...item(["nope"]) }, as("A")), /Queue "q": the scheduler no longer knows "nope"/);
  });

  // Protects: a queue made by a get that came first took no bound, and the producer's
  // `maxsize` was ignored for as long as it lived: puts never waited
  it("queues: a get that comes first leaves the bound to the first put", async () => {
    const c = new Coordination(() => fakeView([]).view);
    const waiting = c.handle("queue-get", { op: "queue-get", name: "q", batch: 0, timeout: 10_000 }, as("B")) as Promise<{ items: unknown[] }>;
    const put = (timeout: number) => c.handle("queue-put", { op: "queue-put", name: "q", maxsize: 1, timeout, ...item() }, as("A")) as Promise<boolean>;
    // in one turn: the first goes to the waiting getter, the second fills the queue, the third waits
    const puts = [put(0), put(0), put(0)];
    assert.deepEqual(await Promise.all(puts), [true, true, false], "full at 1 item: the third put waits (its timeout of 0 ends it)");
    assert.equal((await waiting).items.length, 1);
  });

  // Found by reading (session 12): a batch get waited for all its items to be queued at once,
  // so a batch bigger than maxsize waited for good (the puts waited for room, the get for n).
  // As in Dask, the batch takes the items as they come.
  it("queues: a batch bigger than maxsize takes the waiting puts' items as they come", async () => {
    const c = new Coordination(() => fakeView([]).view);
    const put = (i: number) => c.handle("queue-put", { op: "queue-put", name: "q", maxsize: 2, timeout: 10_000, value: [new Uint8Array([i])], keys: [] }, as("A")) as Promise<boolean>;
    const puts = [1, 2, 3, 4].map(put); // two queued, two waiting for room
    assert.equal(c.handle("queue-size", { op: "queue-size", name: "q" }, as("B")), 2);
    const got = (await c.handle("queue-get", { op: "queue-get", name: "q", batch: 3, timeout: 10_000 }, as("B"))) as { items: Array<{ value: Uint8Array[] }> };
    assert.deepEqual(got.items.map((it) => it.value[0]![0]), [1, 2, 3], "in order, at once");
    assert.deepEqual(await Promise.all(puts), [true, true, true, true], "the fourth moved in when room came");
    const waiting = c.handle("queue-get", { op: "queue-get", name: "q", batch: 3, timeout: 10_000 }, as("B")) as Promise<{ items: Array<{ value: Uint8Array[] }> }>;
    const later = [5, 6].map(put); // one queued, one waiting for room: with the fourth, enough for the waiting batch
    assert.deepEqual((await waiting).items.map((it) => it.value[0]![0]), [4, 5, 6]);
    assert.deepEqual(await Promise.all(later), [true, true]);
    assert.equal(c.handle("queue-size", { op: "queue-size", name: "q" }, as("B")), 0);
  });

  // Protects: the same key held twice (two items) is released once, after the last.
  it("key holds count: a key in two items stays wanted until both are gone", async () => {
    const f = fakeView(["k"]);
    const c = new Coordination(() => f.view);
    c.handle("variable-set", { op: "variable-set", name: "v", ...item(["k"]) }, as("A"));
    c.handle("variable-set", { op: "variable-set", name: "w", ...item(["k"]) }, as("A"));
    c.handle("variable-delete", { op: "variable-delete", name: "v" }, as("A"));
    assert.equal(f.wanted.get("k")?.has("coordination"), true);
    c.handle("variable-delete", { op: "variable-delete", name: "w" }, as("A"));
    assert.equal(f.wanted.get("k")?.has("coordination"), false);
    assert.equal(c.holds.size, 0);
  });

  // Protects: event waiters are woken by set, a gone client's waiter leaves.
  it("events and pub/sub: waiters woken, gone clients cleaned up", async () => {
    const f = fakeView([]);
    const c = new Coordination(() => f.view);
    const w = c.handle("event-wait", { op: "event-wait", name: "e", timeout: 10_000 }, as("A"));
    const gone = c.handle("event-wait", { op: "event-wait", name: "e", timeout: 10_000 }, as("B"));
    c.clientRemoved("B");
    assert.equal(await gone, false);
    assert.equal(c.events.waiting, 1);
    c.handle("event-set", { op: "event-set", name: "e" }, as("C"));
    assert.equal(await w, true);
    assert.equal(c.events.waiting, 0);
    c.handle("pubsub-subscribe", { op: "pubsub-subscribe", name: "p", sub: "s1" }, as("A"));
    c.handle("pubsub-subscribe", { op: "pubsub-subscribe", name: "p", sub: "s2" }, as("A"));
    c.handle("pubsub-put", { op: "pubsub-put", name: "p", value: [new Uint8Array([1])] }, as("B"));
    assert.deepEqual(f.sent.map(([to, m]) => [to, m.op]), [["A", "pubsub-message"]], "one message per client");
    c.clientRemoved("A");
    assert.equal(c.pubsub.subscribers("p"), 0);
  });

  // Protects: a dataset's get that waits is served by a later publish (the key handed to the
  // waiting client), and a waiting get of a gone client leaves.
  it("datasets: a waiting get is served by publish; unpublish lets the keys go", async () => {
    const f = fakeView(["k"]);
    const ds = new Datasets(() => f.view);
    const waiting = ds.get({ name: "d", timeout: 10_000 }, as("B"));
    const gone = ds.get({ name: "d", timeout: 10_000 }, as("C"));
    ds.clientRemoved("C");
    assert.deepEqual(await gone, { found: false });
    ds.publish({ name: "d", ...item(["k"]) });
    const got = await waiting;
    assert.equal(got.found, true);
    assert.deepEqual([...f.wanted.get("k")!].sort(), ["B", "published-datasets"]);
    assert.throws(() => ds.publish({ name: "d", ...item() }), /dataset "d" is already published/);
    assert.equal(ds.unpublish("d"), true);
    assert.equal(ds.unpublish("d"), false);
    assert.deepEqual([...f.wanted.get("k")!], ["B"]);
  });

  // Protects: a value too big for the getting peer's frames (its maxFrameSize) is answered with
  // FrameTooLargeError naming it, whether it was there already or came while the get waited; the
  // value stays (a queue's item for the next getter, a variable's value, a dataset) and its keys
  // are not handed to that peer; a subscriber that cannot take an item gets the error in its
  // place. Before, the reply was written anyway and the peer closed its connection on the frame.
  it("values too big for a getter's frames: an error naming them, the value kept, no keys handed", async () => {
    const f = fakeView(["k"]);
    const c = new Coordination(() => f.view);
    const bigItem = (keys: string[] = []) => ({ value: [new Uint8Array([0xc4]), new Uint8Array(2000)], keys });
    const tooBig = (what: string, named = "FrameTooLargeError: ") => new RegExp(`^${named}${what}: 2001 bytes encoded, over the largest frame the client S takes \\(1024 bytes, its distributed.comm.max-frame-size, less 64 for the message\\)`);
    // queue: the item stays for a getter that can take it; a waiting small getter is passed over
    assert.equal(await c.handle("queue-put", { op: "queue-put", name: "q", maxsize: 0, timeout: 0, ...bigItem(["k"]) }, as("A")), true);
    await assert.rejects(async () => c.handle("queue-get", { op: "queue-get", name: "q", batch: 0, timeout: 0 }, small("S")), tooBig('Queue "q": its next item'));
    assert.equal(c.handle("queue-size", { op: "queue-size", name: "q" }, as("A")), 1, "the item stays queued");
    assert.equal(f.wanted.get("k")?.has("S"), false);
    assert.equal(((await c.handle("queue-get", { op: "queue-get", name: "q", batch: 0, timeout: 0 }, as("B"))) as { items: unknown[] }).items.length, 1);
    const waitingSmall = c.handle("queue-get", { op: "queue-get", name: "q", batch: 0, timeout: 10_000 }, small("S")) as Promise<unknown>;
    const waitingBig = c.handle("queue-get", { op: "queue-get", name: "q", batch: 0, timeout: 10_000 }, as("B")) as Promise<{ items: unknown[] }>;
    await c.handle("queue-put", { op: "queue-put", name: "q", maxsize: 0, timeout: 0, ...bigItem() }, as("A"));
    await assert.rejects(waitingSmall, tooBig('Queue "q": its next item'));
    assert.equal((await waitingBig).items.length, 1, "the next getter got it");
    // variable: there already, or set while the small get waits
    const waitingVar = c.handle("variable-get", { op: "variable-get", name: "v", timeout: 10_000 }, small("S")) as Promise<unknown>;
    c.handle("variable-set", { op: "variable-set", name: "v", ...bigItem(["k"]) }, as("A"));
    await assert.rejects(waitingVar, tooBig('Variable "v": its value'));
    await assert.rejects(async () => c.handle("variable-get", { op: "variable-get", name: "v", timeout: 0 }, small("S")), tooBig('Variable "v": its value'));
    assert.equal(f.wanted.get("k")?.has("S"), false, "no keys handed to the peer that could not take the value");
    assert.notEqual(((await c.handle("variable-get", { op: "variable-get", name: "v", timeout: 0 }, as("B"))) as { item: unknown }).item, null);
    // pub/sub: the small subscriber gets the error in the item's place, the other the item
    c.handle("pubsub-subscribe", { op: "pubsub-subscribe", name: "p", sub: "s1" }, small("S"));
    c.handle("pubsub-subscribe", { op: "pubsub-subscribe", name: "p", sub: "s2" }, as("B"));
    c.handle("pubsub-put", { op: "pubsub-put", name: "p", value: bigItem().value }, as("A"));
    const [toS, toB] = f.sent.filter(([, m]) => m.op === "pubsub-message").map(([to, m]) => [to, m] as const);
    assert.equal(toS?.[0], "S");
    assert.match((toS![1].error as { message: string }).message, tooBig('Sub "p": a published item', ""));
    assert.equal(toS![1].value, undefined);
    assert.deepEqual([toB?.[0], (toB![1].value as Uint8Array[]).length], ["B", 2]);
    // datasets: the same, there already or published while waiting
    const ds = new Datasets(() => f.view);
    const waitingDs = ds.get({ name: "d", timeout: 10_000 }, small("S"));
    ds.publish({ name: "d", ...bigItem(["k"]) });
    await assert.rejects(waitingDs, tooBig('dataset "d"'));
    await assert.rejects(ds.get({ name: "d" }, small("S")), tooBig('dataset "d"'));
    assert.equal(f.wanted.get("k")?.has("S"), false);
    assert.equal((await ds.get({ name: "d" }, as("B"))).found, true);
  });

  // Protects: WaitList answers a timed-out waiter with the "not yet" value and forgets it.
  it("WaitList: timeout answers `expired` and leaves no waiter", async () => {
    const l = new WaitList<null, string>();
    assert.equal(await l.wait("A", null, 0, "no"), "no", "a timeout of 0 does not wait");
    assert.equal(await l.wait("A", null, 20, "late"), "late");
    assert.equal(l.size, 0);
  });
});

describe("scheduler state: want-keys (a client adopting a future it was given)", () => {
  // Protects: a key in memory is announced to its new wanter; an unknown key is answered with
  // key-cancelled naming why; the new wanter keeps the key after its submitter releases it.
  it("announces the key's state, answers unknown keys, keeps the key for the new wanter", () => {
    const s = new SchedulerState();
    s.addWorker({ address: "w", name: "w", host: "h", nthreads: 1, memoryLimit: 0, pid: 1, resources: {} }, 0);
    s.addClient("A");
    s.addClient("B");
    s.updateGraph("A", [{ key: "x", fn: 0, args: [], deps: [] }], "s1");
    s.taskFinished("w", "x", 8, 0.01, "s2");
    const out = s.wantKeys("B", ["x", "ghost"], "s3");
    const toB = out.filter((i) => i.type === "send-client" && i.client === "B").map((i) => i.msg);
    assert.deepEqual(toB.map((m) => [m.op, m.key]), [["key-in-memory", "x"], ["key-cancelled", "ghost"]]);
    assert.match(String(toB[1]!.reason), /no longer knows it/);
    s.releaseKeys("A", ["x"], "s4");
    assert.equal(s.tasks.get("x")?.state, TaskState.memory, "B still wants it");
    s.releaseKeys("B", ["x"], "s5");
    assert.notEqual(s.tasks.get("x")?.state, TaskState.memory);
  });
});
