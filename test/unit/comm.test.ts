import assert from "node:assert/strict";
import { connectTcp, listenTcp } from "../../src/comm/tcp.js";
import type { Comm } from "../../src/comm/types.js";
import type { Message } from "../../src/protocol/messages.js";

/** Two Comms joined over loopback TCP; the receiving side's messages are collected. */
async function pair(): Promise<{ a: Comm; got: Message[]; close: () => Promise<void> }> {
  const got: Message[] = [];
  let b: Comm | undefined;
  const listener = await listenTcp("127.0.0.1", 0, (comm) => {
    b = comm;
    comm.setMaxFrameBytes(1 << 20);
    comm.setHandler((m) => got.push(m));
  });
  const a = await connectTcp(`tcp://127.0.0.1:${listener.port}`, 5000);
  return {
    a,
    got,
    close: async () => {
      a.abort("test over");
      b?.abort("test over");
      await listener.close();
    },
  };
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("comm batching (real loopback TCP)", () => {
  it("sendKey merges keys queued in a row into one message, keeping order with other messages", async () => {
    const { a, got, close } = await pair();
    try {
      a.sendKey("free-keys", "x");
      a.sendKey("free-keys", "y");
      a.send({ op: "compute-task", key: "x" });
      a.sendKey("free-keys", "x"); // after the compute: must not join the first list
      a.sendKey("release-keys", "z");
      a.sendKey("release-keys", "w");
      await until("5 messages", () => got.length >= 4);
      assert.deepEqual(got, [
        { op: "free-keys", keys: ["x", "y"] },
        { op: "compute-task", key: "x" },
        { op: "free-keys", keys: ["x"] },
        { op: "release-keys", keys: ["z", "w"] },
      ]);
    } finally {
      await close();
    }
  });

  it("unsendKey takes a key back before it is written; a list left empty is not sent", async () => {
    const { a, got, close } = await pair();
    try {
      a.sendKey("executing", "t1");
      a.sendKey("executing", "t2");
      a.unsendKey("executing", "t1");
      a.send({ op: "task-finished", key: "t1" });
      a.sendKey("executing", "t3");
      a.unsendKey("executing", "t3");
      a.send({ op: "heartbeat" });
      await until("3 messages", () => got.length >= 3);
      // after the write, taking back is a no-op and a new list starts; one connection keeps
      // order, so once this list is here nothing else came before it (no empty list was sent)
      a.unsendKey("executing", "t2");
      a.sendKey("executing", "t4");
      await until("the next list", () => got.length >= 4);
      assert.deepEqual(got, [{ op: "executing", keys: ["t2"] }, { op: "task-finished", key: "t1" }, { op: "heartbeat" }, { op: "executing", keys: ["t4"] }]);
    } finally {
      await close();
    }
  });
});
