// Heartbeats that do not grow with the cluster (issue 15 point 4): the scheduler's reply to a
// heartbeat says how often a worker should beat in a cluster this size, and a real worker beats
// no more often than that. A real scheduler and worker over TCP, and registered raw workers
// (a listener and a connection each) to make the cluster bigger.
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { connect, listen } from "../../src/comm/connect.js";
import { Rpc } from "../../src/comm/rpc.js";
import type { Comm, Listener } from "../../src/comm/types.js";
import { Op } from "../../src/protocol/ops.js";
import { HEARTBEATS_PER_S, heartbeatIntervalMs } from "../../src/scheduler/options.js";
import { Scheduler } from "../../src/scheduler/server.js";
import { Worker } from "../../src/worker/worker.js";
import { versions } from "../../src/version.js";
import { waitFor } from "../helpers/proc.js";

const secret = "test-secret-heartbeat-interval-0123";

describe("heartbeat interval by cluster size", function () {
  this.timeout(60_000);
  let scheduler: Scheduler | undefined;
  let worker: Worker | undefined;
  const listeners: Listener[] = [];
  const comms: Comm[] = [];

  afterEach(async () => {
    for (const c of comms.splice(0)) c.close("test over");
    await worker?.close("test over");
    for (const l of listeners.splice(0)) await l.close();
    await scheduler?.close("test over");
    [scheduler, worker] = [undefined, undefined];
  });

  /** Register a raw worker (a listener the scheduler can probe, and a connection): its rpc. */
  async function rawWorker(s: Scheduler, i: number): Promise<Rpc> {
    const l = await listen({ host: "127.0.0.1" }, secret, (comm) => void new Rpc(comm, {}));
    listeners.push(l);
    const comm = await connect(s.address, secret, 10_000);
    comms.push(comm);
    const rpc = new Rpc(comm, {});
    await rpc.request(
      { op: Op.registerWorker, address: l.address, name: `raw-${i}`, host: hostname(), nthreads: 1, memoryLimit: 0, pid: process.pid, resources: {}, versions: versions() },
      10_000,
    );
    return rpc;
  }

  it("asks for HEARTBEATS_PER_S in all, at least three beats a TTL", () => {
    assert.equal(heartbeatIntervalMs(2, 30_000), 2000 / HEARTBEATS_PER_S);
    assert.equal(heartbeatIntervalMs(1000, 30_000), 1_000_000 / HEARTBEATS_PER_S);
    assert.equal(heartbeatIntervalMs(100_000, 30_000), 10_000);
    assert.equal(heartbeatIntervalMs(100_000, null), 100_000_000 / HEARTBEATS_PER_S);
  });

  it("the reply names the interval for the cluster's size, and a worker beats no faster", async () => {
    scheduler = await Scheduler.start({ secret, host: "127.0.0.1", workerTtlMs: 60_000 });
    const raws: Rpc[] = [];
    for (let i = 0; i < 39; i++) raws.push(await rawWorker(scheduler, i));
    assert.deepEqual(await raws[0]!.request({ op: Op.heartbeat, metrics: {} }, 10_000), { heartbeatMs: heartbeatIntervalMs(39, 60_000) });

    // a real worker asking for a beat every 5 ms beats at the scheduler's 40 workers' interval
    const asked = heartbeatIntervalMs(40, 60_000);
    assert.ok(asked >= 100, `${asked}`);
    const beats: number[] = [];
    const state = scheduler.state;
    const heartbeat = state.heartbeat.bind(state);
    state.heartbeat = (address, metrics, now) => {
      if (address === worker?.address) beats.push(performance.now());
      heartbeat(address, metrics, now);
    };
    worker = await Worker.start({ schedulerAddress: scheduler.address, secret, name: "real", host: "127.0.0.1", nthreads: 1, heartbeatMs: 5 });
    // its first beat's reply sets the interval; the one after may already have been armed at 5 ms
    await waitFor("six heartbeats of the real worker", () => beats.length >= 6, { timeoutMs: 30_000 });
    const spanMs = beats[5]! - beats[2]!;
    // three intervals at the scheduler's pace (5 ms each would be 15 ms); half of it allows for
    // the beats' delays in transit (load only makes it longer)
    assert.ok(spanMs >= 1.5 * asked, `3 beats in ${spanMs.toFixed(0)} ms, asked for one every ${asked} ms`);
  });
});
