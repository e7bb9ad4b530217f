import assert from "node:assert/strict";
import { UnackedGraphs } from "../../src/client/graph-acks.js";
import { graphMessage } from "../../src/client/graph-message.js";

const graph = (key: string) => graphMessage([{ key, fn: { kind: "source", source: "x => x" }, args: [], deps: [] }]);

describe("graphs a journaled scheduler has not acknowledged", () => {
  it("without a journal, graphs are neither numbered nor kept", () => {
    const g = new UnackedGraphs();
    assert.equal(g.stamp(graph("a")).seq, undefined);
    assert.equal(g.size, 0);
  });

  it("numbers each graph, keeps it until an ack covers its number, and gives the rest back in order", () => {
    const g = new UnackedGraphs();
    g.journal = true;
    const seqs = ["a", "b", "c"].map((k) => g.stamp(graph(k)).seq);
    assert.deepEqual(seqs, [1, 2, 3]);
    g.acked(2);
    assert.deepEqual(g.unacked().map((m) => m.tasks[0]!.key), ["c"]);
    g.acked(1); // an older ack after a newer one changes nothing
    assert.equal(g.size, 1);
    assert.equal(g.stamp(graph("d")).seq, 4);
    g.acked(4);
    assert.equal(g.size, 0);
  });
});
