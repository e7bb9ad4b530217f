// The secret handshake (src/comm/handshake.ts) over real loopback TCP, in one process, against
// honest peers and scripted ones that break a step on purpose. Written to kill the mutants that
// survived `npm run mutate`: each test names the behaviour it protects.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { type TcpComm as Comm, connectTcp, listenTcp } from "../../src/comm/tcp.js";
import type { Message } from "../../src/protocol/messages.js";
import { acceptHandshake, newSecret, offerHandshake } from "../../src/comm/handshake.js";

const SECRET = "handshake-test-secret";
const LIMITS = { timeoutMs: 10_000, maxFrameBytes: 1 << 20 };
const hmac = (secret: string, role: string, nonce: Uint8Array) => createHmac("sha256", secret).update(role).update(nonce).digest();

/** A connected pair of unauthenticated Comms (pre-authentication frame cap) over 127.0.0.1. */
async function pair(): Promise<{ server: Comm; client: Comm; close: () => Promise<void> }> {
  let accepted: (c: Comm) => void;
  const serverComm = new Promise<Comm>((r) => (accepted = r));
  const listener = await listenTcp("127.0.0.1", 0, (c) => accepted(c));
  const client = await connectTcp(`tcp://127.0.0.1:${listener.port}`, 5000);
  const server = await serverComm;
  return {
    server,
    client,
    close: async () => {
      client.abort("test over");
      server.abort("test over");
      await listener.close();
    },
  };
}

function closedPromise(comm: Comm): Promise<void> {
  return new Promise((resolve) => comm.onClose(() => resolve()));
}

describe("handshake (real loopback TCP, scripted peers)", function () {
  this.timeout(20_000);

  // protects: both ends that know the secret get through, and only then may frames exceed
  // the 4 KiB pre-authentication cap (the cap is raised to the configured one on both ends)
  it("peers that know the secret pass, and then exchange frames above the pre-auth cap", async () => {
    const { server, client, close } = await pair();
    try {
      await Promise.all([acceptHandshake(server, SECRET, LIMITS), offerHandshake(client, SECRET, LIMITS)]);
      const big = { op: "big", data: "x".repeat(100_000) };
      client.send(big);
      assert.deepEqual(await server.recv(5000), big);
      server.send(big);
      assert.deepEqual(await client.recv(5000), big);
    } finally {
      await close();
    }
  });

  // protects: the wire format of the proofs (HMAC-SHA256 over role then nonce, roles distinct),
  // so that every version of the project can talk to every other
  it("the proofs are HMAC-SHA256(secret, role + nonce) with roles client and server", async () => {
    const { server, client, close } = await pair();
    try {
      const offered = offerHandshake(client, SECRET, LIMITS);
      const nonce = Buffer.alloc(32, 5);
      server.send({ op: "hello", nonce });
      const auth = await server.recv(5000);
      assert.equal(auth.op, "auth");
      assert.ok(Buffer.from(auth.mac as Uint8Array).equals(hmac(SECRET, "client", nonce)));
      assert.equal((auth.nonce as Uint8Array).length, 32);
      assert.notDeepEqual(Buffer.from(auth.nonce as Uint8Array), nonce, "the client picks its own nonce");
      server.send({ op: "welcome", mac: hmac(SECRET, "server", auth.nonce as Uint8Array) });
      await offered;
    } finally {
      await close();
    }
  });

  // protects: a client that sends the right proof (but a wrong-sized nonce) is welcomed with
  // HMAC(secret, "server" + its nonce), computed by the server from what the client sent
  it("the server answers the client's nonce; a nonce of the wrong size is refused", async () => {
    for (const [len, ok] of [[32, true], [31, false]] as const) {
      const { server, client, close } = await pair();
      try {
        const accepted = acceptHandshake(server, SECRET, LIMITS);
        const hello = await client.recv(5000);
        assert.equal(hello.op, "hello");
        assert.equal((hello.nonce as Uint8Array).length, 32);
        const nonce = Buffer.alloc(len, 9);
        client.send({ op: "auth", mac: hmac(SECRET, "client", hello.nonce as Uint8Array), nonce });
        if (ok) {
          await accepted;
          const welcome = await client.recv(5000);
          assert.equal(welcome.op, "welcome");
          assert.ok(Buffer.from(welcome.mac as Uint8Array).equals(hmac(SECRET, "server", nonce)));
        } else {
          await assert.rejects(accepted, { code: "ERR_HANDSHAKE", message: /sent a malformed nonce/ });
        }
      } finally {
        await close();
      }
    }
  });

  // protects: a server refuses every wrong proof (wrong secret, wrong length, not bytes, the
  // server's own role) with one clear error, and hangs up on the peer
  it("the server refuses wrong proofs and closes the connection", async () => {
    const wrongs: Array<(nonce: Uint8Array) => unknown> = [
      (n) => hmac("not-the-secret", "client", n),
      (n) => hmac(SECRET, "client", n).subarray(0, 16),
      (n) => hmac(SECRET, "client", n).toString("hex"),
      (n) => hmac(SECRET, "server", n),
      () => undefined,
    ];
    for (const wrong of wrongs) {
      const { server, client, close } = await pair();
      try {
        const accepted = acceptHandshake(server, SECRET, LIMITS);
        const hello = await client.recv(5000);
        client.send({ op: "auth", mac: wrong(hello.nonce as Uint8Array), nonce: Buffer.alloc(32) });
        await assert.rejects(accepted, { name: "HandshakeError", code: "ERR_HANDSHAKE", message: /^peer 127\.0\.0\.1:\d+ does not know the cluster secret$/ });
        await closedPromise(client);
        assert.equal(server.closed, true);
      } finally {
        await close();
      }
    }
  });

  // protects: the client checks the server's proof (an impostor scheduler that does not know
  // the secret is refused, even if it answers "welcome"), and checks it is a server proof
  it("the client refuses an impostor server's welcome", async () => {
    const impostors: Array<(mac: Uint8Array, nonce: Uint8Array) => unknown> = [
      (_m, n) => hmac("guessed-secret", "server", n),
      (m) => m, // reflects the client's own proof back
      (_m, n) => hmac(SECRET, "server", n).subarray(1),
      () => "welcome",
    ];
    for (const impostor of impostors) {
      const { server, client, close } = await pair();
      try {
        const offered = offerHandshake(client, SECRET, LIMITS);
        server.send({ op: "hello", nonce: Buffer.alloc(32, 1) });
        const auth = await server.recv(5000);
        server.send({ op: "welcome", mac: impostor(auth.mac as Uint8Array, auth.nonce as Uint8Array) });
        await assert.rejects(offered, { code: "ERR_HANDSHAKE", message: /^server 127\.0\.0\.1:\d+ does not know the cluster secret$/ });
        await closedPromise(server);
      } finally {
        await close();
      }
    }
  });

  // protects: out-of-order or malformed steps are refused naming what was expected and got
  it("wrong ops and a server without a nonce are refused, naming what came", async () => {
    {
      const { server, client, close } = await pair();
      try {
        const accepted = acceptHandshake(server, SECRET, LIMITS);
        await client.recv(5000);
        client.send({ op: "compute-task" });
        await assert.rejects(accepted, { code: "ERR_HANDSHAKE", message: 'expected auth during the handshake, got "compute-task"' });
      } finally {
        await close();
      }
    }
    for (const hello of [{ op: "welcome" }, { op: "hello" }, { op: "hello", nonce: "abc" }] as Message[]) {
      const { server, client, close } = await pair();
      try {
        const offered = offerHandshake(client, SECRET, LIMITS);
        server.send(hello);
        const message = hello.op === "hello" ? /^server 127\.0\.0\.1:\d+ sent a malformed nonce$/ : /^expected hello during the handshake, got "welcome"$/;
        await assert.rejects(offered, { code: "ERR_HANDSHAKE", message });
        await closedPromise(server);
      } finally {
        await close();
      }
    }
    {
      const { server, client, close } = await pair();
      try {
        const offered = offerHandshake(client, SECRET, LIMITS);
        server.send({ op: "hello", nonce: Buffer.alloc(32) });
        await server.recv(5000);
        server.send({ op: "hello", nonce: Buffer.alloc(32) });
        await assert.rejects(offered, { code: "ERR_HANDSHAKE", message: 'expected welcome during the handshake, got "hello"' });
      } finally {
        await close();
      }
    }
  });

  // protects: a client whose proof the server refused says the secret may be wrong, and only
  // when the server hung up (a stall is a different failure, reported as such)
  it("the client tells a hang-up after its proof from a stall", async () => {
    {
      const { server, client, close } = await pair();
      try {
        const offered = offerHandshake(client, "wrong-secret", LIMITS);
        await assert.rejects(acceptHandshake(server, SECRET, LIMITS), { code: "ERR_HANDSHAKE" });
        await assert.rejects(offered, {
          code: "ERR_HANDSHAKE",
          message: /^127\.0\.0\.1:\d+ closed the connection after checking our proof of the cluster secret: is the secret \(or scheduler file\) the right one\?$/,
        });
      } finally {
        await close();
      }
    }
    {
      const { server, client, close } = await pair();
      try {
        const offered = offerHandshake(client, SECRET, { ...LIMITS, timeoutMs: 300 });
        server.send({ op: "hello", nonce: Buffer.alloc(32) });
        await server.recv(5000); // ... and never answers
        const err = await offered.then(
          () => assert.fail("a stalled handshake must fail"),
          (e: Error) => e,
        );
        assert.equal((err as { code?: string }).code, "ERR_HANDSHAKE");
        assert.match(err.message, /^handshake with 127\.0\.0\.1:\d+ failed: /);
        assert.equal((err.cause as { code?: string }).code, "ERR_TIMEOUT");
        assert.equal(client.closed, true);
      } finally {
        await close();
      }
    }
  });

  // protects: a peer that connects and says nothing is dropped after the handshake timeout
  // (not kept forever), with the timeout as the cause
  it("a silent peer is dropped at the handshake deadline", async () => {
    const { server, client, close } = await pair();
    try {
      const err = await acceptHandshake(server, SECRET, { ...LIMITS, timeoutMs: 300 }).then(
        () => assert.fail("a silent peer must not pass"),
        (e: Error) => e,
      );
      assert.equal((err as { code?: string }).code, "ERR_HANDSHAKE");
      assert.equal((err.cause as { code?: string }).code, "ERR_TIMEOUT");
      await closedPromise(client);
    } finally {
      await close();
    }
  });

  // protects: fresh secrets are 32 random bytes in hex, never repeated
  it("newSecret makes 64 hex digits, different each time", () => {
    const a = newSecret();
    assert.match(a, /^[0-9a-f]{64}$/);
    assert.notEqual(a, newSecret());
  });

  // protects: a worker started from a scheduler file listens before it learnt the secret (its
  // secret is "" until then); a peer proving the empty secret was let in, and stayed trusted
  it("a server without a secret yet admits no one, not even a peer that proves the empty secret", async () => {
    const { server, client, close } = await pair();
    try {
      const accepted = acceptHandshake(server, "", LIMITS);
      const offered = offerHandshake(client, "", LIMITS);
      await assert.rejects(accepted, { name: "HandshakeError", message: /has no cluster secret yet/ });
      await assert.rejects(offered);
    } finally {
      await close();
    }
  });
});
