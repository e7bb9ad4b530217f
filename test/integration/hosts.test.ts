// Separate hosts on one machine (network namespaces joined by bridges): dask-scheduler-ts,
// dask-worker-ts and a client on different hosts, choosing their network with --interface.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { BIN, ROOT, tempDir } from "../helpers/cluster.js";
import { type TestNetwork, createNetwork, netnsUnavailable } from "../helpers/netns.js";
import { cleanupProcs, exitWithin, spawnProc, waitFor } from "../helpers/proc.js";
import { skipIf } from "../helpers/skip.js";

const CLIENT = path.join(ROOT, "dist/test/integration/fixtures/graph-client.js");
const env = { DASK_MPI_TS_LOG_LEVEL: "info" };

describe("separate hosts (network namespaces)", function () {
  this.timeout(120_000);
  const why = netnsUnavailable();
  let network: TestNetwork;
  const tmp = tempDir();

  before(function () {
    skipIf(this, why);
    network = createNetwork(["sched", "w1", "w2", "client"], { mgmt: ["w1", "w2"] });
  });
  afterEach(cleanupProcs);
  after(() => {
    network?.remove();
    tmp.remove();
  });

  const run = (host: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
    const [cmd, ...prefix] = network.on(host);
    return spawnProc(cmd!, [...prefix, process.execPath, ...args], { env: { ...env, ...extraEnv } });
  };
  const startScheduler = async (file: string, args: string[], host = "sched") => {
    const scheduler = run(host, [BIN("dask-scheduler-ts"), "--scheduler-file", file, ...args]);
    await waitFor("the scheduler file", () => {
      try {
        return JSON.parse(readFileSync(file, "utf8")) as { address: string };
      } catch {
        return undefined;
      }
    }, { timeoutMs: 15_000, proc: scheduler });
    return { scheduler, address: (JSON.parse(readFileSync(file, "utf8")) as { address: string }).address };
  };

  it("scheduler, two workers and a client on four hosts over --interface fast0: a 1,000-task graph completes", async () => {
    const file = path.join(tmp.dir, "fast.json");
    const { address } = await startScheduler(file, ["--interface", "fast0"]);
    assert.equal(address.replace(/:\d+$/, ""), `tcp://${network.hosts.sched!.fast}`);
    for (const w of ["w1", "w2"]) run(w, [BIN("dask-worker-ts"), "--scheduler-file", file, "--interface", "fast0", "--name", w, "--no-nanny"]);
    const client = run("client", [CLIENT, file, "2"]);
    const { code } = await exitWithin(client, 90_000);
    assert.equal(code, 0, client.stderr);
    const out = JSON.parse(client.stdout.trim().split("\n").pop()!) as { value: number; workers: string[] };
    assert.equal(out.value, (999 * 1000 * 1999) / 6);
    // each worker advertised its own host's fast address
    assert.deepEqual(out.workers.map((a) => a.replace(/:\d+$/, "")).sort(), [`tcp://${network.hosts.w1!.fast}`, `tcp://${network.hosts.w2!.fast}`]);
  });

  it("with no --interface, the scheduler advertises its default route's address, not 127.0.0.1", async () => {
    const file = path.join(tmp.dir, "default.json");
    const { address } = await startScheduler(file, [], "client");
    assert.equal(address.replace(/:\d+$/, ""), `tcp://${network.hosts.client!.fast}`);
  });

  it("a worker on the wrong network (--interface mgmt0, which the scheduler cannot reach) is refused with the reason", async () => {
    const file = path.join(tmp.dir, "wrong.json");
    await startScheduler(file, ["--interface", "fast0"]);
    const worker = run("w1", [BIN("dask-worker-ts"), "--scheduler-file", file, "--interface", "mgmt0", "--name", "lost", "--no-nanny", "--death-timeout", "20s"]);
    const { code } = await exitWithin(worker, 30_000);
    assert.notEqual(code, 0);
    assert.match(worker.stderr, new RegExp(`cannot reach this worker at tcp://${network.hosts.w1!.mgmt!.replace(/\./g, "\\.")}:\\d+`));
    assert.match(worker.stderr, /check --interface/);
  });

  it("an unknown interface, or one without IPv4, fails naming the interfaces that exist", async () => {
    const worker = run("w1", [BIN("dask-worker-ts"), "tcp://10.0.0.1:1", "--interface", "ib0", "--no-nanny"], { DASK_MPI_TS_SECRET: "s" });
    const { code } = await exitWithin(worker, 15_000);
    assert.notEqual(code, 0);
    assert.match(worker.stderr, /network interface "ib0" does not exist; interfaces here: fast0, lo, mgmt0/);
  });
});
