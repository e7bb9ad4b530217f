// The transport contract, run against every backend (tcp://, tls://, inproc://): the secret
// handshake, batching, raw binary parts, the frame cap and close semantics are the same on all,
// so code cannot tell which one it talks over. Then what only inproc:// has (names).
import assert from "node:assert/strict";
import { DEFAULT_COMM, connect, listen } from "../../src/comm/connect.js";
import { backendFor } from "../../src/comm/registry.js";
import { loadTls } from "../../src/comm/tls.js";
import type { Comm, Listener, Scheme } from "../../src/comm/types.js";
import type { Message } from "../../src/protocol/messages.js";
import { makeCerts } from "../helpers/certs.js";
import { ROOT, tempDir } from "../helpers/cluster.js";
import { cleanupProcs, exitWithin, spawnProc } from "../helpers/proc.js";

const secret = "comm-test-secret-0123456789";

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

for (const scheme of ["tcp", "tls", "inproc"] as const satisfies readonly Scheme[]) {
  describe(`comm over ${scheme}://`, function () {
    this.timeout(60_000);
    const tmp = tempDir();
    let opts = DEFAULT_COMM;
    let listener: Listener;
    /** Comms the listener accepted (authenticated), and what each received. */
    let accepted: Array<{ comm: Comm; got: Message[] }>;
    let opened: Comm[];

    before(() => {
      if (scheme === "tls") opts = { ...DEFAULT_COMM, maxFrameBytes: 8 << 20, tls: loadTls(makeCerts(tmp.dir, "comm")) };
      else opts = { ...DEFAULT_COMM, maxFrameBytes: 8 << 20 };
    });
    after(() => tmp.remove());

    beforeEach(async () => {
      accepted = [];
      opened = [];
      listener = await listen({ protocol: scheme, host: "127.0.0.1" }, secret, (comm) => {
        const got: Message[] = [];
        comm.setHandler((m) => got.push(m));
        accepted.push({ comm, got });
      }, opts);
    });
    afterEach(async () => {
      for (const c of opened) c.abort("test over");
      await listener.close();
    });

    /** An authenticated comm to the listener, and the far end with what it receives. */
    async function pair(): Promise<{ a: Comm; b: Comm; got: Message[] }> {
      const a = await connect(listener.address, secret, 10_000, opts);
      opened.push(a);
      await until("the accepted end", () => accepted.length > 0);
      const { comm: b, got } = accepted.shift()!;
      opened.push(b);
      return { a, b, got };
    }

    it("addresses carry the scheme; the registry finds the backend by it", async () => {
      assert.match(listener.address, scheme === "inproc" ? /^inproc:\/\/[\w./~-]+$/ : new RegExp(`^${scheme}://127\\.0\\.0\\.1:\\d+$`));
      assert.equal(typeof (await backendFor(listener.address)).connect, "function");
    });

    it("the handshake admits the secret's holders and refuses others; the listener serves on", async () => {
      await assert.rejects(connect(listener.address, "not-the-secret", 10_000, opts), {
        code: "ERR_HANDSHAKE",
        message: /closed the connection after checking our proof of the cluster secret/,
      });
      const { a, b, got } = await pair();
      a.send({ op: "ping", n: 1 });
      await until("the ping", () => got.length === 1);
      assert.deepEqual(got, [{ op: "ping", n: 1 }]);
      const back: Message[] = [];
      a.setHandler((m) => back.push(m));
      b.send({ op: "pong" });
      await until("the pong", () => back.length === 1);
      assert.ok(a.reads > 0 && b.reads > 0, "reads count what arrived");
    });

    it("sendKey merges keys queued in a row into one message, keeping order with other messages", async () => {
      const { a, got } = await pair();
      a.sendKey("free-keys", "x");
      a.sendKey("free-keys", "y");
      a.send({ op: "compute-task", key: "x" });
      a.sendKey("free-keys", "x"); // after the compute: must not join the first list
      a.sendKey("release-keys", "z");
      a.sendKey("release-keys", "w");
      await until("4 messages", () => got.length >= 4);
      assert.deepEqual(got, [
        { op: "free-keys", keys: ["x", "y"] },
        { op: "compute-task", key: "x" },
        { op: "free-keys", keys: ["x"] },
        { op: "release-keys", keys: ["z", "w"] },
      ]);
    });

    it("flush() writes what is queued before the turn ends; backlog counts the bytes the peer has not taken yet", async () => {
      const { a, got } = await pair();
      a.send({ op: "first" });
      a.send({ op: "big", pad: "x".repeat(6 << 20) });
      assert.equal(a.backlog, 0, "nothing written before the turn ends");
      a.flush();
      // the peer (in this process) cannot read before this turn ends: most of 6 MiB waits here
      assert.ok(a.backlog > 0, `backlog after flush: ${a.backlog}`);
      a.send({ op: "last" });
      await until("3 messages", () => got.length >= 3);
      assert.deepEqual(got.map((m) => m.op), ["first", "big", "last"]);
      await until("the backlog taken", () => a.backlog === 0);
    });

    it("unsendKey takes a key back before it is written; a list left empty is not sent", async () => {
      const { a, got } = await pair();
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
    });

    it("raw binary parts arrive intact and typed, as copies; big frames go to shared memory when asked", async () => {
      const { a, b, got } = await pair();
      b.useSharedFrames();
      const big = new Float64Array(256 * 1024).map((_, i) => i * 0.5); // 2 MiB: a raw part
      const bytes = Buffer.from("small binary stays inline");
      a.send({ op: "put", big, bytes, text: "é" });
      await until("the value", () => got.length === 1);
      const m = got[0]! as unknown as { big: Float64Array; bytes: Uint8Array; text: string };
      assert.ok(m.big instanceof Float64Array);
      assert.deepEqual(m.big, big);
      assert.notEqual(m.big.buffer, big.buffer, "the receiver has its own copy");
      assert.ok(m.big.buffer instanceof SharedArrayBuffer, "assembled in shared memory, as off a socket");
      assert.equal(Buffer.from(m.bytes).toString(), "small binary stays inline");
      assert.equal(m.text, "é");
    });

    it("a frame over the cap closes only that connection, naming the sizes", async () => {
      const { a, b } = await pair();
      b.setMaxFrameBytes(1 << 20);
      const reason = new Promise<string>((r) => b.onClose((e) => r(e.message)));
      const aClosed = new Promise<void>((r) => a.onClose(() => r()));
      a.send({ op: "put", big: new Uint8Array(2 << 20) });
      assert.match(await reason, /frame of \d+ bytes exceeds the limit of 1048576 bytes/);
      await aClosed;
      const { a: a2, got } = await pair();
      a2.send({ op: "still-serving" });
      await until("a message on a new connection", () => got.length === 1);
    });

    it("before the handshake a frame is capped at 4 KiB", async () => {
      const raw = await (await backendFor(listener.address)).connect(listener.address, { timeoutMs: 10_000, tls: opts.tls });
      opened.push(raw);
      const closed = new Promise<string>((r) => raw.onClose((e) => r(e.message)));
      raw.send({ op: "auth", padding: "x".repeat(8192) });
      assert.match(await closed, /closed/);
      assert.equal(accepted.length, 0, "nothing unauthenticated reached the listener's handler");
    });

    it("close() sends what is queued first, then the peer sees the close; abort() drops it", async () => {
      const { a, b, got } = await pair();
      const why = new Promise<string>((r) => b.onClose((e) => r(e.message)));
      a.send({ op: "last-words" });
      a.close("done");
      assert.equal(a.closed, true);
      assert.throws(() => a.send({ op: "too-late" }), { code: "ERR_COMM_CLOSED" });
      assert.match(await why, /closed by peer/);
      assert.deepEqual(got, [{ op: "last-words" }]);
      await assert.rejects(b.recv(1000), { code: "ERR_COMM_CLOSED" });

      const { a: a2, b: b2, got: got2 } = await pair();
      const gone = new Promise<void>((r) => b2.onClose(() => r()));
      a2.send({ op: "dropped" });
      a2.abort("now");
      await gone;
      assert.deepEqual(got2, []);
    });

    it("closing the listener closes the connections it accepted", async () => {
      const { a } = await pair();
      const closed = new Promise<void>((r) => a.onClose(() => r()));
      await listener.close();
      await closed;
      await assert.rejects(connect(listener.address, secret, 2000, opts));
      listener = await listen({ protocol: scheme, host: "127.0.0.1" }, secret, () => undefined, opts); // for afterEach
    });
  });
}

describe("inproc:// names", () => {
  it("a name is taken once, checked, and free again after close; an unknown one is refused", async () => {
    const l = await listen({ listenAddress: "inproc://unit-test-name" }, secret, () => undefined);
    try {
      assert.equal(l.address, "inproc://unit-test-name");
      await assert.rejects(listen({ protocol: "inproc", name: "unit-test-name" }, secret, () => undefined), {
        code: "ERR_COMM_CLOSED",
        message: "could not listen on inproc://unit-test-name: the name is in use in this process",
      });
    } finally {
      await l.close();
    }
    const again = await listen({ protocol: "inproc", name: "unit-test-name" }, secret, () => undefined);
    await again.close();
    await assert.rejects(listen({ protocol: "inproc", name: "bad name!" }, secret, () => undefined), {
      code: "ERR_CONFIG",
      message: 'an inproc:// name may use letters, digits and . _ ~ / - only, got "bad name!"',
    });
    await assert.rejects(connect("inproc://nobody-here", secret, 1000), {
      code: "ERR_COMM_CLOSED",
      message: "could not connect to inproc://nobody-here: nothing listens there in this process",
    });
    await assert.rejects(connect("udp://1.2.3.4:5", secret, 1000), { code: "ERR_CONFIG", message: 'unknown transport scheme "udp"; known: tcp, tls, inproc' });
  });
});

describe("inproc:// and the event loop", () => {
  afterEach(cleanupProcs);

  // like a socket, an open inproc connection keeps its process alive: a role in a script does
  // not vanish while it serves (the close below runs on an unref'd timer, which alone would not)
  it("an open connection keeps the process alive until it is closed", async () => {
    const script = `
      const { connect, listen } = await import(${JSON.stringify(`${ROOT}/dist/src/comm/connect.js`)});
      const l = await listen({ protocol: "inproc" }, "s", () => undefined);
      const c = await connect(l.address, "s", 1000);
      setTimeout(async () => { c.close("done"); await l.close(); console.log("closed"); }, 300).unref();`;
    const p = spawnProc(process.execPath, ["--input-type=module", "-e", script], { env: { DASK_MPI_TS_LOG_LEVEL: "silent" } });
    const { code } = await exitWithin(p, 30_000);
    assert.equal(code, 0, p.stderr);
    assert.equal(p.stdout, "closed\n");
  });
});
