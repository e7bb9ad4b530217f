// tls:// clusters in one process over real TLS on 127.0.0.1: mutual verification, and the
// secret handshake inside it.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { Client } from "../../src/index.js";
import { Scheduler } from "../../src/scheduler/server.js";
import { Worker } from "../../src/worker/worker.js";
import { parseAddress } from "../../src/comm/address.js";
import { connectTcp } from "../../src/comm/tcp.js";
import { loadTls } from "../../src/comm/tls.js";
import { encodeMessage } from "../../src/protocol/frames.js";
import { BIN, tempDir } from "../helpers/cluster.js";
import { type CertSet, makeCerts } from "../helpers/certs.js";
import { cleanupProcs, spawnProc, waitFor } from "../helpers/proc.js";

const secret = "tls-test-secret-0123456789";

describe("TLS (in-process, real TLS over loopback)", function () {
  this.timeout(60_000);
  const tmp = tempDir();
  let good: CertSet;
  let stranger: CertSet;
  let scheduler: Scheduler;
  let workers: Worker[];

  before(async () => {
    good = makeCerts(tmp.dir, "cluster");
    stranger = makeCerts(tmp.dir, "stranger");
    scheduler = await Scheduler.start({ secret, host: "127.0.0.1", tls: good });
    workers = await Promise.all(["a", "b"].map((name) => Worker.start({ schedulerAddress: scheduler.address, secret, name, host: "127.0.0.1", tls: good })));
  });

  afterEach(cleanupProcs);
  after(async () => {
    await Promise.all(workers.map((w) => w.close("test over")));
    await scheduler.close("test over");
    tmp.remove();
  });

  it("a cluster over tls:// computes, including worker-to-worker transfers", async () => {
    assert.match(scheduler.address, /^tls:\/\/127\.0\.0\.1:\d+$/);
    for (const w of workers) assert.match(w.address, /^tls:\/\//);
    const client = await Client.connect(scheduler.address, { secret, tls: good });
    try {
      await client.waitForWorkers(2, { timeout: 10_000 });
      const a = client.submit(() => new Float64Array(1 << 18).fill(2), { workers: ["a"] });
      const sum = client.submit((x: Float64Array) => x.reduce((s, v) => s + v, 0), a, { workers: ["b"] });
      assert.equal(await sum.result({ timeout: 20_000 }), 2 * (1 << 18));
      assert.deepEqual(await client.gather(client.map((x: number) => x * 3, [1, 2, 3])), [3, 6, 9]);
    } finally {
      await client.close();
    }
  });

  it("refuses a plaintext peer: the TLS layer drops it at once, with the TLS reason, not at a timeout", async () => {
    // a scheduler process, so that its log (the reason) can be read
    const file = path.join(tmp.dir, "plain.json");
    const proc = spawnProc(
      process.execPath,
      [BIN("dask-scheduler-ts"), "--scheduler-file", file, "--interface", "lo", "--no-dashboard", "--tls-cert", good.cert, "--tls-key", good.key, "--tls-ca", good.ca],
      { env: { DASK_MPI_TS_LOG_LEVEL: "info" } },
    );
    await waitFor("the scheduler file", () => existsSync(file), { timeoutMs: 15_000, proc });
    const { host, port } = parseAddress((JSON.parse(readFileSync(file, "utf8")) as { address: string }).address);
    // our protocol in the clear: the start of a handshake answer, as a plaintext client sends it
    const s = net.connect({ host, port }, () => {
      for (const part of encodeMessage({ op: "auth", mac: Buffer.alloc(32), nonce: Buffer.alloc(32) })) s.write(part);
    });
    let received = 0;
    s.on("data", (d: Buffer) => (received += d.length));
    const closed = new Promise<void>((resolve) => {
      s.on("error", () => {});
      s.on("close", () => resolve());
    });
    const refusal = await waitFor("the refusal in the scheduler's log", () => /"msg":"refused a TLS connection"/.test(proc.stderr) && proc.stderr, { timeoutMs: 30_000, proc });
    await closed; // the scheduler closed it: this side never ends the socket
    const line = refusal.split("\n").find((l) => l.includes('"msg":"refused a TLS connection"'))!;
    const reason = (JSON.parse(line) as { reason: string }).reason;
    // a refusal of what was sent, not the TLS handshake timeout (a silent peer's fate)
    assert.match(reason, /wrong version number|unknown protocol|http request|packet length too long|record/i, reason);
    assert.doesNotMatch(reason, /timeout|timed out/i, reason);
    assert.equal(received, 0, "nothing of the cluster's protocol was sent to the plaintext peer");
  });

  it("refuses a peer whose certificate another CA signed", async () => {
    // the scheduler's certificate is not one our CA signed: fails at once, not after the timeout
    const t0 = Date.now();
    await assert.rejects(Client.connect(scheduler.address, { secret, tls: stranger }), { code: "ERR_HANDSHAKE", message: /TLS with tls:\/\/.* failed: .*cluster's CA/ });
    // a client that trusts the scheduler's CA but presents a certificate the scheduler does not
    const mixed = { cert: stranger.cert, key: stranger.key, ca: good.ca };
    await assert.rejects(Client.connect(scheduler.address, { secret, tls: mixed, timeout: 3000 }), /TLS|certificate|closed|within|alert/);
    assert.ok(Date.now() - t0 < 6000, "TLS refusals are not retried until a timeout");
    // and the cluster still serves
    const client = await Client.connect(scheduler.address, { secret, tls: good });
    assert.equal(await client.submit((x: number) => x + 1, 1).result(), 2);
    await client.close();
  });

  it("the right certificates but the wrong secret are refused too", async () => {
    await assert.rejects(Client.connect(scheduler.address, { secret: "not-the-secret", tls: good }), {
      code: "ERR_HANDSHAKE",
      message: /closed the connection after checking our proof of the cluster secret/,
    });
  });

  it("tls:// without certificates, and missing or bad PEM files, fail naming what to give", async () => {
    await assert.rejects(connectTcp(scheduler.address, 1000), /is a TLS address: give --tls-cert, --tls-key and --tls-ca/);
    assert.throws(() => loadTls({ cert: good.cert }), /missing --tls-key, --tls-ca/);
    assert.throws(() => loadTls({ ...good, key: `${tmp.dir}/nope.pem` }), /--tls-key .*nope\.pem: cannot read it \(ENOENT\)/);
    assert.throws(() => loadTls({ ...good, ca: `${tmp.dir}` }), /--tls-ca .*: cannot read it \(EISDIR\)/);
  });
});
