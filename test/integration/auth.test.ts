// The handshake guards both ways, over real TCP on 127.0.0.1 (src/comm/handshake.ts):
// a client or worker refuses a "scheduler" that cannot prove the cluster secret, and a
// listener drops an unauthenticated peer that sends an oversized frame (at once) or stalls
// the handshake (within the handshake timeout). Each test fails if its check is removed.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { Client } from "../../src/index.js";
import { Scheduler } from "../../src/scheduler/server.js";
import { Worker } from "../../src/worker/worker.js";
import { DEFAULT_COMM, connect } from "../../src/comm/connect.js";
import { parseAddress } from "../../src/comm/address.js";
import { type TcpListener, PRE_AUTH_MAX_FRAME, listenTcp } from "../../src/comm/tcp.js";
import type { Comm } from "../../src/comm/types.js";
import { Op } from "../../src/protocol/ops.js";

const secret = "auth-test-secret-0123456789";

/**
 * A listener that plays the scheduler's part of the handshake without knowing the secret:
 * it sends a challenge, takes the answer, and replies with a proof it had to make up.
 * Records every message that reaches it after that (a fooled peer would go on talking).
 */
async function impostor(): Promise<{ address: string; answered: () => number; after: string[]; open: Set<Comm>; close: () => Promise<void> }> {
  const after: string[] = [];
  const open = new Set<Comm>();
  let answered = 0;
  const listener: TcpListener = await listenTcp("127.0.0.1", 0, (comm) => {
    open.add(comm);
    comm.onClose(() => open.delete(comm));
    void (async () => {
      comm.send({ op: Op.hello, nonce: randomBytes(32) });
      const auth = await comm.recv(30_000);
      if (auth.op !== Op.auth) return;
      answered++;
      comm.send({ op: Op.welcome, mac: randomBytes(32) }); // right length, wrong proof
      comm.setHandler((m) => after.push(m.op));
    })().catch(() => {});
  });
  return { address: `tcp://127.0.0.1:${listener.port}`, answered: () => answered, after, open, close: () => listener.close() };
}

/** Resolves with how the socket ended, once it has; rejects past `deadlineMs` (the peer kept it open). */
function closedWithin(socket: net.Socket, deadlineMs: number): Promise<{ ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the connection was still open after ${deadlineMs} ms`)), deadlineMs);
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ ms: Date.now() - t0 });
    });
  });
}

async function until(what: string, cond: () => boolean, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("handshake guards (real TCP)", function () {
  this.timeout(60_000);

  describe("a scheduler that does not know the secret is refused", () => {
    let fake: Awaited<ReturnType<typeof impostor>>;
    beforeEach(async () => (fake = await impostor()));
    afterEach(() => fake.close());

    it("by a client: HandshakeError naming the server, and nothing after the handshake is sent to it", async () => {
      await assert.rejects(Client.connect(fake.address, { secret, timeout: 20_000 }), {
        code: "ERR_HANDSHAKE",
        message: /server 127\.0\.0\.1:\d+ does not know the cluster secret/,
      });
      assert.equal(fake.answered(), 1, "the client did answer the challenge (it got as far as checking the proof)");
      await until("the client to hang up", () => fake.open.size === 0);
      assert.deepEqual(fake.after, [], "a refused scheduler hears no register-client or any other op");
    });

    it("by the connection layer every role uses (workers, nannies, peers): connect() rejects", async () => {
      await assert.rejects(connect(fake.address, secret, 10_000), { code: "ERR_HANDSHAKE", message: /does not know the cluster secret/ });
      await until("the connection to close", () => fake.open.size === 0);
      assert.deepEqual(fake.after, []);
    });

    it("by a worker: it never registers, and gives up at its death timeout saying why", async () => {
      // (a worker keeps trying until its death timeout: the real scheduler may yet come back)
      await assert.rejects(Worker.start({ schedulerAddress: fake.address, secret, name: "fooled", host: "127.0.0.1", deathTimeoutMs: 2000 }), {
        message: /before its death timeout: server 127\.0\.0\.1:\d+ does not know the cluster secret/,
      });
      assert.ok(fake.answered() >= 1);
      await until("the worker to hang up", () => fake.open.size === 0);
      assert.deepEqual(fake.after, [], "no register-worker reached the impostor");
    });
  });

  describe("an unauthenticated peer is dropped by the listener", () => {
    let scheduler: Scheduler | undefined;
    afterEach(async () => {
      await scheduler?.close("test over");
      scheduler = undefined;
    });
    const rawConnect = (address: string) => {
      const { host, port } = parseAddress(address);
      const s = net.connect({ host, port });
      s.resume(); // read (and drop) the challenge
      return s;
    };

    it("a frame larger than 4 KiB before authentication closes the connection at once, not at the handshake timeout", async () => {
      assert.equal(PRE_AUTH_MAX_FRAME, 4096, "the documented pre-authentication cap");
      // a handshake timeout far beyond the deadline below: only the frame cap can close it in time
      scheduler = await Scheduler.start({ secret, host: "127.0.0.1", comm: { ...DEFAULT_COMM, handshakeTimeoutMs: 120_000 } });
      for (const announced of [4097, 64 * 1024]) {
        const s = rawConnect(scheduler.address);
        const closed = closedWithin(s, 30_000);
        // the header announces the frame; a part of the payload follows and the rest never does
        const header = Buffer.alloc(4);
        header.writeUInt32BE(announced, 0);
        s.write(Buffer.concat([header, randomBytes(4000)]));
        await closed;
      }
      // and a legitimate client is still served
      const client = await Client.connect(scheduler.address, { secret });
      await client.close();
    });

    it("a peer that stalls the handshake is closed once the handshake timeout passes", async () => {
      const handshakeTimeoutMs = 1000;
      scheduler = await Scheduler.start({ secret, host: "127.0.0.1", comm: { ...DEFAULT_COMM, handshakeTimeoutMs } });
      const s = rawConnect(scheduler.address); // connects, reads the challenge, never answers
      const { ms } = await closedWithin(s, 30_000);
      // closed by the server's deadline: not before it (timers do not fire early)
      assert.ok(ms >= handshakeTimeoutMs - 50, `closed after ${ms} ms, before the handshake timeout`);
    });
  });
});
