import assert from "node:assert/strict";
import { GraphOutbox } from "../../src/client/graph-outbox.js";
import { GRAPH_CHUNK } from "../../src/client/graph-message.js";
import type { UpdateGraph } from "../../src/protocol/messages-client.js";

const fn = { kind: "source" as const, source: "x => x" }; // one object per function, as the client makes it
const task = (key: string) => ({ key, fn, args: [], deps: [] });
const turn = () => new Promise((r) => setImmediate(r));

function outbox(o: { connected?: boolean; closed?: boolean } = {}) {
  const sent: UpdateGraph[] = [];
  const io = { up: o.connected ?? true, closed: o.closed ?? false };
  const box = new GraphOutbox({ connected: () => io.up, closed: () => io.closed, send: (m) => sent.push(m) });
  return { box, sent, io };
}

describe("graph outbox: a client's tasks on their way to the scheduler", () => {
  it("sends a turn's tasks in one message, each function once; a big batch one chunk per turn", async () => {
    const { box, sent } = outbox();
    box.add(task("a"));
    box.add(task("b"));
    assert.equal(sent.length, 0, "nothing before the turn ends");
    await turn();
    assert.deepEqual(sent.map((m) => m.tasks.map((t) => t.key)), [["a", "b"]]);
    assert.equal(sent[0]!.functions.length, 1);
    assert.equal(sent[0]!.seq, undefined, "no journal: not numbered");
    sent.length = 0;
    for (let i = 0; i < GRAPH_CHUNK + 5; i++) box.add(task(`k-${i}`));
    await turn();
    assert.deepEqual(sent.map((m) => m.tasks.length), [GRAPH_CHUNK]);
    await turn();
    assert.deepEqual(sent.map((m) => m.tasks.length), [GRAPH_CHUNK, 5]);
    assert.deepEqual(box.unacked(), [], "no journal: nothing kept");
  });

  it("flush() sends everything now (before another message to the scheduler)", () => {
    const { box, sent } = outbox();
    for (let i = 0; i < GRAPH_CHUNK + 1; i++) box.add(task(`k-${i}`));
    box.flush();
    assert.deepEqual(sent.map((m) => m.tasks.length), [GRAPH_CHUNK, 1]);
  });

  it("while disconnected the tasks wait for the next scheduler; a closed client drops them", async () => {
    const { box, sent, io } = outbox({ connected: false });
    box.add(task("a"));
    await turn();
    assert.equal(sent.length, 0);
    io.up = true;
    box.flush();
    assert.deepEqual(sent.map((m) => m.tasks[0]!.key), ["a"]);
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
    assert.deepEqual(box.unacked().map((m) => [m.seq, m.tasks[0]!.key]), [[1, "a"], [2, "b"], [3, "c"]]);
    box.acked(2);
    assert.deepEqual(box.unacked().map((m) => m.seq), [3]);
    box.acked(1); // an older ack after a newer one changes nothing
    assert.deepEqual(box.unacked().map((m) => m.seq), [3]);
    box.acked(3);
    assert.deepEqual(box.unacked(), []);
  });
});
