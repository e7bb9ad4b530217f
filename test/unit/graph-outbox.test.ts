import assert from "node:assert/strict";
import { GraphOutbox, STREAM_BACKLOG, STREAM_CHUNK } from "../../src/client/graph-outbox.js";
import { GRAPH_CHUNK } from "../../src/client/graph-message.js";
import type { CancelKeys, ReleaseKeys, UpdateGraph } from "../../src/protocol/messages-client.js";

const fn = { kind: "source" as const, source: "x => x" }; // one object per function, as the client makes it
const task = (key: string) => ({ key, fn, args: [], deps: [] });
const turn = () => new Promise((r) => setImmediate(r));

function outbox(o: { connected?: boolean; closed?: boolean } = {}) {
  const sent: Array<UpdateGraph | ReleaseKeys | CancelKeys> = [];
  const io = { up: o.connected ?? true, closed: o.closed ?? false };
  const box = new GraphOutbox({ connected: () => io.up, closed: () => io.closed, send: (m) => sent.push(m) });
  const graphs = () => sent.filter((m): m is UpdateGraph => m.op === "update-graph");
  return { box, sent, io, graphs };
}

describe("graph outbox: a client's tasks on their way to the scheduler", () => {
  it("keeps tasks and releases in order, a message per run of one kind; a million releases go a chunk per turn", async () => {
    const { box, sent } = outbox();
    box.add(task("a"));
    box.release("a");
    box.add(task("a")); // submitted again after its release: must reach the scheduler after it
    box.release("b");
    box.release("c");
    await turn();
    assert.deepEqual(sent.map((m) => [m.op, ...(m.op !== "update-graph" ? m.keys : m.tasks.map((t) => t.key))]), [
      ["update-graph", "a"],
      ["release-keys", "a"],
      ["update-graph", "a"],
      ["release-keys", "b", "c"],
    ]);
    sent.length = 0;
    for (let i = 0; i < 3 * GRAPH_CHUNK; i++) box.release(`k-${i}`);
    await turn();
    assert.deepEqual(sent.map((m) => (m as ReleaseKeys).keys.length), [GRAPH_CHUNK], "one chunk per turn: the scheduler is not blocked by one huge message");
    box.flush();
    assert.deepEqual(sent.map((m) => (m as ReleaseKeys).keys.length), [GRAPH_CHUNK, GRAPH_CHUNK, GRAPH_CHUNK]);
  });

  it("sends a turn's tasks in one message, each function once; a big batch one chunk per turn", async () => {
    const { box, sent, graphs } = outbox();
    box.add(task("a"));
    box.add(task("b"));
    assert.equal(sent.length, 0, "nothing before the turn ends");
    await turn();
    assert.deepEqual(graphs().map((m) => m.tasks.map((t) => t.key)), [["a", "b"]]);
    assert.equal(graphs()[0]!.functions.length, 1);
    assert.equal(graphs()[0]!.seq, undefined, "no journal: not numbered");
    sent.length = 0;
    for (let i = 0; i < GRAPH_CHUNK + 5; i++) box.add(task(`k-${i}`));
    await turn();
    assert.deepEqual(graphs().map((m) => m.tasks.length), [GRAPH_CHUNK]);
    await turn();
    assert.deepEqual(graphs().map((m) => m.tasks.length), [GRAPH_CHUNK, 5]);
    assert.deepEqual(box.notDurable(), [], "no journal: nothing kept");
  });

  it("a big map sent over many turns, with tasks and releases added meanwhile and a send that flushes again, goes once each, in order", async () => {
    const sent: Array<UpdateGraph | ReleaseKeys | CancelKeys> = [];
    let nested = 0;
    const box: GraphOutbox = new GraphOutbox({
      connected: () => true,
      closed: () => false,
      // a send that sends more first (the client flushes the outbox before any other message)
      send: (m) => {
        sent.push(m);
        if (nested++ % 3 === 0) box.flush(GRAPH_CHUNK);
      },
    });
    const want: string[] = [];
    const add = (key: string) => (box.add(task(key)), want.push(`+${key}`));
    const release = (key: string) => (box.release(key), want.push(`-${key}`));
    for (let i = 0; i < 7 * GRAPH_CHUNK + 3; i++) add(`a-${i}`);
    for (let round = 0; round < 6; round++) {
      await turn();
      // more queued while most of the first batch waits: behind it, in the order they came
      for (let i = 0; i < GRAPH_CHUNK / 2; i++) add(`r${round}-${i}`);
      release(`a-${round}`);
    }
    // a few more turns (a chunk each, the array cut as it goes), then the rest at once
    for (let i = 0; i < 3; i++) await turn();
    box.flush();
    const got = sent.flatMap((m) => (m.op === "update-graph" ? m.tasks.map((t) => `+${t.key}`) : m.op === "release-keys" ? m.keys.map((k) => `-${k}`) : []));
    assert.equal(got.length, want.length, "every task and release sent once");
    assert.deepEqual(got, want);
  });

  // a turn's tasks were one update-graph whatever their size: two 3 GB arguments made a message
  // no frame could carry, and the connection to the scheduler closed on it
  it("a run of tasks ends before its arguments pass a frame's share, and says its size", async () => {
    const sent: Array<[string[], number | undefined]> = [];
    const box = new GraphOutbox({ connected: () => true, closed: () => false, send: (m, bytes) => void sent.push([(m as UpdateGraph).tasks.map((t) => t.key), bytes]) });
    // views claiming big sizes (not allocated): the outbox only counts byteLength
    const sized = (key: string, n: number) => ({ key, fn, args: [{ byteLength: n } as Uint8Array], deps: [] });
    box.add(sized("a", 3e9));
    box.add(sized("b", 3e9));
    box.add(sized("c", 10));
    box.add(sized("d", 2));
    await turn();
    assert.deepEqual(sent, [[["a"], 3e9], [["b", "c", "d"], 3e9 + 12]]);
    sent.length = 0;
    box.add(sized("e", 10));
    await turn();
    assert.deepEqual(sent, [[["e"], undefined]], "a small graph says nothing");
  });

  it("flush() sends everything now (before another message to the scheduler)", () => {
    const { box, graphs } = outbox();
    for (let i = 0; i < GRAPH_CHUNK + 1; i++) box.add(task(`k-${i}`));
    box.flush();
    assert.deepEqual(graphs().map((m) => m.tasks.length), [GRAPH_CHUNK, 1]);
  });

  it("a long synchronous loop of submits streams its first GRAPH_CHUNK tasks, STREAM_CHUNK at a time written at once, in order with releases, unless the scheduler is behind", async () => {
    const log: string[] = [];
    const io = { up: true, backlog: 0 };
    const box = new GraphOutbox({
      connected: () => io.up,
      closed: () => false,
      send: (m) => log.push(`${m.op} ${m.op === "update-graph" ? m.tasks.map((t) => t.key).join(",") : m.keys.join(",")}`),
      write: () => (log.push("write"), io.backlog),
    });
    const keys = Array.from({ length: 2 * STREAM_CHUNK + 10 }, (_, i) => `k-${i}`);
    box.add(task(keys[0]!));
    box.release("old");
    for (const k of keys.slice(1)) box.add(task(k));
    const during = [...log];
    assert.equal(during.filter((l) => l === "write").length, 2, "written twice during the loop, before the turn ends");
    assert.equal(during.at(-1), "write");
    await turn();
    const after = log.slice(during.length);
    assert.ok(!after.includes("write") && after.length === 1, "the rest at the turn's end, as before");
    const messages = log.filter((l) => l !== "write");
    assert.deepEqual(messages.slice(0, 2), [`update-graph ${keys[0]}`, "release-keys old"], "the release between two submits stays between them");
    assert.deepEqual(messages.slice(2).flatMap((l) => l.split(" ")[1]!.split(",")), keys.slice(1), "every task once, in order");
    log.length = 0;
    io.backlog = STREAM_BACKLOG; // the scheduler is behind: one chunk written, the rest a chunk per turn
    for (let i = 0; i < 3 * STREAM_CHUNK; i++) box.add(task(`b-${i}`));
    assert.deepEqual(log.map((l) => (l === "write" ? l : l.split(",").length)), [STREAM_CHUNK, "write"]);
    await turn();
    assert.deepEqual(log.map((l) => (l === "write" ? l : l.split(",").length)), [STREAM_CHUNK, "write", 2 * STREAM_CHUNK], "the rest at the turn's end");
    io.backlog = 0;
    log.length = 0;
    for (let i = 0; i < GRAPH_CHUNK + 3 * STREAM_CHUNK; i++) box.add(task(`c-${i}`));
    assert.equal(log.filter((l) => l === "write").length, GRAPH_CHUNK / STREAM_CHUNK, "a turn streams its first GRAPH_CHUNK tasks only");
    await turn();
    assert.equal(log.at(-1)!.split(",").length, 3 * STREAM_CHUNK, "the rest a chunk per turn");
    log.length = 0;
    // the previous run's releases, still queued, go with the first chunk: they do not use up the turn's streaming
    for (let i = 0; i < 3 * STREAM_CHUNK; i++) box.release(`r-${i}`);
    for (let i = 0; i < 2 * STREAM_CHUNK; i++) box.add(task(`d-${i}`));
    assert.deepEqual(log.map((l) => (l === "write" ? l : `${l.split(" ")[0]} ${l.split(",").length}`)), [
      `release-keys ${3 * STREAM_CHUNK}`,
      `update-graph ${STREAM_CHUNK}`,
      "write",
      `update-graph ${STREAM_CHUNK}`,
      "write",
    ]);
    await turn();
    log.length = 0;
    io.up = false; // reconnecting: nothing streams, the tasks wait for the next scheduler
    for (let i = 0; i < STREAM_CHUNK + 1; i++) box.add(task(`w-${i}`));
    await turn();
    assert.deepEqual(log, []);
  });

  it("numbers releases and cancels (endings) in the order they were queued; a message carries its last one's number", async () => {
    const { box, sent, io } = outbox();
    box.release("a");
    box.release("b");
    assert.equal(box.endings, 2, "numbered when queued, before they are sent");
    box.add(task("c"));
    box.cancel(["c", "d"]); // sent at once, after what came before
    assert.deepEqual(sent.map((m) => [m.op, (m as ReleaseKeys).seq]), [["release-keys", 2], ["update-graph", undefined], ["cancel-keys", 4]]);
    assert.deepEqual((sent[2] as CancelKeys).keys, ["c", "d"]);
    io.up = false;
    box.cancel(["e"]); // while reconnecting: kept for the next scheduler
    box.release("f");
    assert.equal(box.endings, 6);
    assert.equal(sent.length, 3);
    io.up = true;
    assert.equal(box.nextEnding(), 7, "a resume's number: after what was pending, which goes first");
    assert.deepEqual(sent.slice(3).map((m) => [m.op, (m as ReleaseKeys).seq]), [["cancel-keys", 5], ["release-keys", 6]]);
    box.release("g");
    await turn();
    assert.equal((sent.at(-1) as ReleaseKeys).seq, 8);
  });

  // A user-named key released and submitted again with another function, both lost with a killed
  // scheduler before its group sync: the scheduler taking over knew the key (its old computation)
  // from its journal, took the graph sent again as a known key's, and the client got the old
  // function's value. Releases and cancels are now kept, with the graphs, until on disk.
  it("for a journaled scheduler keeps graphs, releases and cancels in the order they went until on disk", () => {
    const { box } = outbox();
    box.journal = true;
    box.add(task("k"));
    box.flush(); // graph 1
    box.release("k"); // ending 1
    box.add(task("k")); // submitted again: graph 2
    box.cancel(["c"]); // ending 2
    box.flush();
    const kept = () => box.notDurable().map((m) => [m.op, m.seq]);
    assert.deepEqual(kept(), [["update-graph", 1], ["release-keys", 1], ["update-graph", 2], ["cancel-keys", 2]]);
    box.durable(1);
    assert.deepEqual(kept(), [["release-keys", 1], ["update-graph", 2], ["cancel-keys", 2]], "graph 1 on disk");
    box.durable(0, 1);
    assert.deepEqual(kept(), [["update-graph", 2], ["cancel-keys", 2]], "the release on disk");
    box.durable(1, 0); // an older ack after a newer one changes nothing
    assert.deepEqual(kept(), [["update-graph", 2], ["cancel-keys", 2]]);
    box.durable(2, 2);
    assert.deepEqual(kept(), []);
  });

  it("while disconnected the tasks wait for the next scheduler; a closed client drops them", async () => {
    const { box, sent, io, graphs } = outbox({ connected: false });
    box.add(task("a"));
    await turn();
    assert.equal(sent.length, 0);
    io.up = true;
    box.flush();
    assert.deepEqual(graphs().map((m) => m.tasks[0]!.key), ["a"]);
    io.up = false;
    box.add(task("b"));
    io.closed = true;
    await turn();
    io.up = true;
    box.flush();
    assert.equal(sent.length, 1, "dropped with the closed client");
  });

  it("for a journaled scheduler numbers each graph and keeps it until an ack covers its number", () => {
    const { box } = outbox();
    box.journal = true;
    for (const k of ["a", "b", "c"]) {
      box.add(task(k));
      box.flush();
    }
    const graphs = () => box.notDurable() as UpdateGraph[];
    assert.deepEqual(graphs().map((m) => [m.seq, m.tasks[0]!.key]), [[1, "a"], [2, "b"], [3, "c"]]);
    box.durable(2);
    assert.deepEqual(graphs().map((m) => m.seq), [3]);
    box.durable(1); // an older ack after a newer one changes nothing
    assert.deepEqual(graphs().map((m) => m.seq), [3]);
    box.durable(3);
    assert.deepEqual(graphs(), []);
  });
});
