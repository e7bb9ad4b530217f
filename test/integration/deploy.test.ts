// Scheduler-file deployments with the standalone commands, as batch jobs use them: workers
// started before the scheduler, stale files, a restarted scheduler, several workers per
// command, TLS, and workers behind an address translation.
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { Client } from "../../src/index.js";
import { BIN, freePort, tempDir } from "../helpers/cluster.js";
import { makeCerts } from "../helpers/certs.js";
import { cleanupProcs, exitWithin, type Proc, spawnProc, waitFor } from "../helpers/proc.js";

const env = { DASK_MPI_TS_LOG_LEVEL: "warn" };
const scheduler = (file: string, args: string[] = []) =>
  spawnProc(process.execPath, [BIN("dask-scheduler-ts"), "--scheduler-file", file, "--interface", "lo", ...args], { env });
const worker = (args: string[]) => spawnProc(process.execPath, [BIN("dask-worker-ts"), "--interface", "lo", ...args], { env });
const fileAppears = (file: string, proc: Proc) => waitFor(`${file}`, () => existsSync(file), { timeoutMs: 15_000, proc });

/** Child processes of `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/stat`, "utf8").split(") ")[1]!.split(" ")[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function names(client: Client): Promise<string[]> {
  return Object.values((await client.schedulerInfo()).workers).map((w) => w.name).sort();
}

describe("scheduler-file deployments (dask-scheduler-ts, dask-worker-ts)", function () {
  this.timeout(120_000);
  const tmp = tempDir();
  afterEach(cleanupProcs);
  after(() => tmp.remove());

  it("the array-job pattern: 10 workers started before the scheduler all join it", async () => {
    const file = path.join(tmp.dir, "array.json");
    for (let i = 0; i < 10; i++) worker(["--scheduler-file", file, "--name", `a${i}`, "--no-nanny", "--death-timeout", "60s"]);
    const s = scheduler(file);
    await fileAppears(file, s);
    const client = await Client.connect({ schedulerFile: file });
    try {
      await client.waitForWorkers(10, { timeout: 60_000 });
      assert.deepEqual(await names(client), Array.from({ length: 10 }, (_, i) => `a${i}`).sort());
      const total = client.submit((...xs: number[]) => xs.reduce((a, b) => a + b, 0), ...client.map((x: number) => x + 1, Array.from({ length: 100 }, (_, i) => i)));
      assert.equal(await total.result({ timeout: 30_000 }), 5050);
    } finally {
      await client.close();
    }
    // SIGTERM: workers are closed, the file is removed, and every command exits 0
    s.child.kill("SIGTERM");
    assert.equal((await exitWithin(s, 20_000)).code, 0);
    assert.ok(!existsSync(file), "the scheduler file was removed");
  });

  it("--nworkers 3 runs three named workers under one command (with nannies)", async () => {
    const file = path.join(tmp.dir, "multi.json");
    const s = scheduler(file);
    await fileAppears(file, s);
    const w = worker(["--scheduler-file", file, "--nworkers", "3", "--name", "multi"]);
    const client = await Client.connect({ schedulerFile: file });
    try {
      await client.waitForWorkers(3, { timeout: 60_000 });
      assert.deepEqual(await names(client), ["multi-0", "multi-1", "multi-2"]);
    } finally {
      await client.close();
    }
    w.child.kill("SIGTERM");
    assert.equal((await exitWithin(w, 20_000)).code, 0, w.stderr);
  });

  // Protects: one signal stops every worker of a --nworkers command, also those still starting
  // (waiting for their scheduler): the command ends with the signal's status, leaving no process
  it("SIGTERM to --nworkers 2 whose workers still wait for their scheduler ends it with status 143", async () => {
    const file = path.join(tmp.dir, "never.json");
    const w = worker(["--scheduler-file", file, "--nworkers", "2", "--nanny", "--death-timeout", "120s"]);
    await waitFor("both nannies' worker processes", () => childrenOf(w.child.pid!).length >= 2, { timeoutMs: 30_000, proc: w });
    w.child.kill("SIGTERM");
    const end = await exitWithin(w, 20_000);
    assert.equal(end.code, 143, w.stderr);
  });

  it("workers wait past a stale file, join the scheduler that rewrites it, and follow a restarted one", async () => {
    const file = path.join(tmp.dir, "stale.json");
    const dead = await freePort();
    writeFileSync(file, JSON.stringify({ type: "Scheduler", id: "old", address: `tcp://127.0.0.1:${dead}`, services: {}, started: 0, secret: "old-secret" }), { mode: 0o600 });
    // what listens at the stale address now is not a scheduler: it hangs up on every
    // connection, which shows that the workers are trying it (and keep trying)
    let tries = 0;
    const impostor = net.createServer((c) => {
      tries++;
      c.destroy();
    });
    await new Promise<void>((r) => impostor.listen(dead, "127.0.0.1", r));
    const workers = ["s0", "s1"].map((n) => worker(["--scheduler-file", file, "--name", n, "--no-nanny", "--death-timeout", "60s"]));
    await waitFor("the workers to try the stale address again and again", () => tries >= 6, { timeoutMs: 20_000 });
    impostor.close();
    for (const w of workers) assert.equal(w.exitCode(), undefined, w.stderr);
    const first = scheduler(file);
    await waitFor("the new scheduler file", () => existsSync(file) && !readFileSync(file, "utf8").includes('"old"'), { timeoutMs: 15_000, proc: first });
    let client = await Client.connect({ schedulerFile: file });
    await client.waitForWorkers(2, { timeout: 30_000 });
    await client.close();
    const firstId = JSON.parse(readFileSync(file, "utf8")).id as string;
    // the scheduler dies without cleaning up; a new one (new address, new secret) takes its file
    first.child.kill("SIGKILL");
    await exitWithin(first, 10_000);
    const second = scheduler(file);
    await waitFor("the second scheduler's file", () => JSON.parse(readFileSync(file, "utf8")).id !== firstId, { timeoutMs: 15_000, proc: second });
    client = await Client.connect({ schedulerFile: file, timeout: 30_000 });
    try {
      await client.waitForWorkers(2, { timeout: 60_000 });
      assert.deepEqual(await names(client), ["s0", "s1"]);
      assert.equal(await client.submit((x: number) => x * 7, 6).result({ timeout: 20_000 }), 42);
    } finally {
      await client.close();
    }
    for (const w of workers) assert.equal(w.exitCode(), undefined, "workers stayed up across the restart");
  });

  it("without a scheduler, workers exit non-zero after --death-timeout saying whether the file was absent or stale", async () => {
    const stale = path.join(tmp.dir, "stale-only.json");
    writeFileSync(stale, JSON.stringify({ type: "Scheduler", id: "x", address: `tcp://127.0.0.1:${await freePort()}`, services: {}, started: 0, secret: "s" }), { mode: 0o600 });
    const a = worker(["--scheduler-file", stale, "--no-nanny", "--death-timeout", "2s"]);
    const b = worker(["--scheduler-file", path.join(tmp.dir, "never.json"), "--no-nanny", "--death-timeout", "2s"]);
    const [ra, rb] = await Promise.all([exitWithin(a, 20_000), exitWithin(b, 20_000)]);
    assert.notEqual(ra.code, 0);
    assert.match(a.stderr, /before its death timeout: scheduler file .*stale-only\.json names tcp:\/\/127\.0\.0\.1:\d+, which does not answer .*a stale file from an earlier run\?/);
    assert.notEqual(rb.code, 0);
    assert.match(b.stderr, /before its death timeout: scheduler file .*never\.json does not exist \(yet\)/);
    // and a file others can read is refused at once, saying how to fix it
    const open = path.join(tmp.dir, "open.json");
    writeFileSync(open, readFileSync(stale), { mode: 0o644 });
    const c = worker(["--scheduler-file", open, "--no-nanny", "--death-timeout", "30s"]);
    const rc = await exitWithin(c, 10_000);
    assert.notEqual(rc.code, 0);
    assert.match(c.stderr, /readable by other users \(mode 644\).*chmod 600/);
  });

  it("a TLS cluster from the command line; a worker without certificates is told what to give", async () => {
    const certs = makeCerts(tmp.dir, "cli");
    const tls = ["--tls-cert", certs.cert, "--tls-key", certs.key, "--tls-ca", certs.ca];
    const file = path.join(tmp.dir, "tls.json");
    const s = scheduler(file, tls);
    await fileAppears(file, s);
    assert.match(JSON.parse(readFileSync(file, "utf8")).address, /^tls:\/\//);
    worker(["--scheduler-file", file, "--name", "t0", "--no-nanny", ...tls]);
    worker(["--scheduler-file", file, "--name", "t1", ...tls]);
    const client = await Client.connect({ schedulerFile: file, tls: certs });
    try {
      await client.waitForWorkers(2, { timeout: 30_000 });
      const a = client.submit(() => new Uint8Array(1 << 20).fill(7), { workers: ["t0"] });
      assert.equal(await client.submit((x: Uint8Array) => x.reduce((p, v) => p + v, 0), a, { workers: ["t1"] }).result({ timeout: 20_000 }), 7 << 20);
    } finally {
      await client.close();
    }
    const plain = worker(["--scheduler-file", file, "--no-nanny", "--death-timeout", "10s"]);
    assert.notEqual((await exitWithin(plain, 15_000)).code, 0);
    assert.match(plain.stderr, /is a TLS address: give --tls-cert, --tls-key and --tls-ca/);
  });

  it("--listen-address/--contact-address: a worker reached only through a forwarded port still serves its peers", async () => {
    const file = path.join(tmp.dir, "nat.json");
    const s = scheduler(file);
    await fileAppears(file, s);
    // the "NAT": only the forwarded port is advertised; it relays to the port the worker binds
    const [inner, outer] = [await freePort(), await freePort()];
    const relay = net.createServer((c) => {
      const up = net.connect(inner, "127.0.0.1");
      c.pipe(up).pipe(c);
      c.on("error", () => up.destroy());
      up.on("error", () => c.destroy());
    });
    await new Promise<void>((r) => relay.listen(outer, "127.0.0.1", r));
    try {
      worker(["--scheduler-file", file, "--name", "behind", "--no-nanny", "--listen-address", `tcp://127.0.0.1:${inner}`, "--contact-address", `tcp://127.0.0.1:${outer}`]);
      worker(["--scheduler-file", file, "--name", "plain", "--no-nanny"]);
      const client = await Client.connect({ schedulerFile: file });
      try {
        await client.waitForWorkers(2, { timeout: 30_000 });
        const info = await client.schedulerInfo();
        const behind = Object.entries(info.workers).find(([, w]) => w.name === "behind")![0];
        assert.equal(behind, `tcp://127.0.0.1:${outer}`);
        const a = client.submit(() => "made behind the relay", { workers: ["behind"] });
        assert.equal(await client.submit((x: string) => x.toUpperCase(), a, { workers: ["plain"] }).result({ timeout: 20_000 }), "MADE BEHIND THE RELAY");
      } finally {
        await client.close();
      }
    } finally {
      relay.close();
    }
  });
});
