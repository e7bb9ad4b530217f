// Rpc with typed routes, over a real TCP connection on 127.0.0.1. Protects: a message is checked
// by its op's parser at the edge, before its handler runs (the handler sees it typed); a
// malformed request is answered with the parser's error, a malformed one-way message closes
// that connection only, with the parser's error as the reason, and the handler never runs; `raw` routes (an extension's ops) reach their handler unparsed; requests
// still get replies, and plain handler tables keep working.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { connect, listen } from "../../src/comm/connect.js";
import { Rpc, routes } from "../../src/comm/rpc.js";
import type { Comm, Listener } from "../../src/comm/types.js";
import type { Message } from "../../src/protocol/messages.js";
import { type GetData, type WorkerToWorker, workerToWorkerParsers } from "../../src/protocol/messages-peer.js";

const SECRET = "rpc-test-secret";

describe("Rpc typed routes (real tcp)", function () {
  this.timeout(30_000);
  let listener: Listener | undefined;
  const comms: Comm[] = [];
  afterEach(async () => {
    for (const c of comms.splice(0)) c.close("test done");
    await listener?.close();
    listener = undefined;
  });

  /** A server whose connections get `make(comm)` as their Rpc; a client comm to it. */
  async function pair(make: (comm: Comm) => Rpc): Promise<{ client: Rpc; served: Promise<Comm> }> {
    let resolveServed!: (c: Comm) => void;
    const served = new Promise<Comm>((r) => (resolveServed = r));
    listener = await listen({ host: "127.0.0.1" }, SECRET, (comm) => {
      comms.push(comm);
      make(comm);
      resolveServed(comm);
    });
    const comm = await connect(listener.address, SECRET, 10_000);
    comms.push(comm);
    return { client: new Rpc(comm, {}), served };
  }

  it("parses before the handler, answers requests, and passes raw routes through unparsed", async () => {
    const seen: Message[] = [];
    const { client } = await pair((comm) =>
      new Rpc(comm, routes<WorkerToWorker>({
        parsers: workerToWorkerParsers,
        handlers: {
          "get-data": (m) => ({ keys: [], values: [], missing: m.keys }),
          "put-data": (m) => ({ nbytes: Object.fromEntries(Object.keys(m.data).map((k) => [k, m.data[k]!.length])) }),
        },
        raw: { "ext-ping": (m) => (seen.push(m), "pong") },
      })),
    );
    // a typed message is a Message, and the reply is typed by its op (Replies): checked by tsc
    const req: GetData = { op: "get-data", keys: ["a", "b"] };
    const got: { keys: string[]; values: Uint8Array[][]; missing: string[] } = await client.request(req, 10_000);
    assert.deepEqual(got, { keys: [], values: [], missing: ["a", "b"] });
    const put = await client.request({ op: "put-data", data: { k: [Buffer.from([1]), Buffer.from([2])] } }, 10_000);
    assert.deepEqual(put, { nbytes: { k: 2 } });
    assert.equal(await client.request({ op: "ext-ping", anything: 1 }, 10_000), "pong");
    assert.equal(seen[0]!.anything, 1);
  });

  // Protects: a malformed request closed the connection, and a client lost all its work to
  // one bad argument (story(5), run(fn, { workers: "w0" }), retireWorkers("w0"))
  it("a malformed request is answered with the parser's error and the connection stays; its handler never runs", async () => {
    let ran = 0;
    const { client, served } = await pair((comm) => new Rpc(comm, routes<WorkerToWorker>({
      parsers: workerToWorkerParsers,
      handlers: { "get-data": () => (ran++, {}), "put-data": () => ran++ },
    })));
    await assert.rejects(client.request({ op: "get-data", keys: "a" }, 10_000), (err: Error) => /get-data: keys must be a list of strings, got "a"/.test(err.message));
    assert.equal(ran, 0);
    assert.ok(!(await served).closed);
    assert.deepEqual(await client.request({ op: "get-data", keys: [] }, 10_000), {});
    assert.equal(ran, 1);
  });

  it("a malformed one-way message closes that connection with the parser's error, and its handler never runs", async () => {
    let ran = 0;
    let resolveReason!: (r: string) => void;
    const reason = new Promise<string>((r) => (resolveReason = r));
    const { client, served } = await pair((comm) => {
      comm.onClose((err) => resolveReason(err.message));
      return new Rpc(comm, routes<WorkerToWorker>({
        parsers: workerToWorkerParsers,
        handlers: { "get-data": () => ran++, "put-data": () => ran++ },
      }));
    });
    const closed = new Promise<string>((r) => client.comm.onClose((err) => r(err.message)));
    client.send({ op: "get-data", keys: "a" });
    await closed;
    assert.ok((await served).closed);
    assert.match(await reason, /get-data: keys must be a list of strings, got "a"/);
    assert.equal(ran, 0);
  });

  it("a plain handler table still routes raw messages", async () => {
    const { client } = await pair((comm) => new Rpc(comm, { echo: (m) => m.x }));
    assert.equal(await client.request({ op: "echo", x: 42 }, 10_000), 42);
  });
  // protects: a reply that reached the socket while this process was busy past the request's
  // deadline lost to the timer (timers run before I/O): a lock's grant or a queue's item the
  // scheduler had handed over was dropped. The server is another process, so it answers while
  // this one is busy.
  it("a reply already in the socket when the deadline passes during a busy turn is taken, not timed out", async () => {
    const url = (m: string) => JSON.stringify(new URL(`../../src/${m}`, import.meta.url).href);
    const code = `const { listen } = await import(${url("comm/connect.js")}); const { Rpc } = await import(${url("comm/rpc.js")});
      const l = await listen({ host: "127.0.0.1" }, ${JSON.stringify(SECRET)}, (comm) => new Rpc(comm, { ping: () => "pong" }));
      console.log(l.address); process.stdin.on("end", () => process.exit(0)); process.stdin.resume();`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["pipe", "pipe", "inherit"] });
    try {
      const address = await new Promise<string>((resolve, reject) => {
        child.stdout!.once("data", (d: Buffer) => resolve(d.toString().trim()));
        child.once("exit", (c) => reject(new Error(`server exited ${c}`)));
      });
      const comm = await connect(address, SECRET, 10_000);
      comms.push(comm);
      const client = new Rpc(comm, {});
      assert.equal(await client.request({ op: "ping" }, 10_000), "pong");
      const answer = client.request({ op: "ping" }, 100);
      await new Promise((r) => setImmediate(r)); // the request is written (the connection flushes first)
      const until = Date.now() + 2000;
      while (Date.now() < until); // busy past the deadline; the server (another process) answers meanwhile
      assert.equal(await answer, "pong");
    } finally {
      child.stdin!.end();
      child.kill();
    }
  });
  // protects: a reply that came after its request timed out was dropped whatever it carried: a
  // queue's item handed to a client stayed handed (the scheduler then held its keys for that
  // client till it left). Now `late` takes a successful late reply; without it the reply is
  // dropped as before, and an error reply is not passed on.
  it("a successful reply after the timeout reaches the request's `late`, once; an error reply does not", async () => {
    const answers: Array<() => void> = [];
    const { client } = await pair((comm) =>
      new Rpc(comm, {
        slow: (m) => new Promise((resolve, reject) => answers.push(() => (m.fail ? reject(new Error("refused")) : resolve(m.x)))),
        echo: (m) => m.x,
      }),
    );
    const late: unknown[] = [];
    const asked = [
      client.request({ op: "slow", x: 1 }, 50, { late: (v) => late.push(v) }),
      client.request({ op: "slow", x: 2 }, 50),
      client.request({ op: "slow", x: 3, fail: true }, 50, { late: (v) => late.push(v) }),
    ];
    for (const a of asked) await assert.rejects(a, /no reply to slow/);
    const deadline = Date.now() + 10_000;
    while (answers.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(answers.length, 3);
    for (const answer of answers) answer();
    // the replies come in order, before the echo's
    assert.equal(await client.request({ op: "echo", x: 4 }, 10_000), 4);
    assert.deepEqual(late, [1]);
  });
});

describe("frames' share of big values", () => {
  it("byFrame groups values so that each put-data fits a frame; a value over the share alone is set apart", async () => {
    const { byFrame } = await import("../../src/comm/rpc.js");
    const { FRAME_SHARE_BYTES } = await import("../../src/errors.js");
    const v = (n: number) => [{ byteLength: n } as Uint8Array];
    const { groups, tooBig } = byFrame({ a: v(3e9), b: v(1e9), c: v(5), huge: v(FRAME_SHARE_BYTES + 1), d: v(1e9) });
    assert.deepEqual(groups.map((g) => [Object.keys(g.data), g.bytes]), [[["a", "b", "c"], 4e9 + 5], [["d"], 1e9]]);
    assert.deepEqual(tooBig, ["huge"]);
  });

  it("a remote FrameTooLargeError keeps its sizes: frameTooLarge finds them behind the RemoteError", async () => {
    const { RemoteError } = await import("../../src/comm/rpc.js");
    const { FrameTooLargeError, frameTooLarge, MAX_FRAME_LIMIT } = await import("../../src/errors.js");
    const { toWireError } = await import("../../src/protocol/ops.js");
    const wire = toWireError(new FrameTooLargeError(5e9, MAX_FRAME_LIMIT, "the value of \"k\" is 5000000000 bytes"));
    const big = frameTooLarge(new RemoteError(wire));
    assert.ok(big);
    assert.deepEqual([big.bytes, big.limit, big.overCap], [5e9, MAX_FRAME_LIMIT, true]);
    assert.equal(frameTooLarge(new RemoteError(toWireError(new Error("other")))), undefined);
  });

});
