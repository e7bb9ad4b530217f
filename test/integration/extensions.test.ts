// A scheduler extension on a real scheduler over TCP (scheduler, worker and client in this
// process): started with the scheduler's view and hosts, its services announced to clients, its
// hooks called on real events, its ops routed with who sent them, closed with the scheduler.
import assert from "node:assert/strict";
import { Client } from "../../src/index.js";
import { Scheduler } from "../../src/scheduler/server.js";
import { Worker } from "../../src/worker/worker.js";
import { DEFAULT_COMM, connect } from "../../src/comm/connect.js";
import { Rpc } from "../../src/comm/rpc.js";
import { ConfigError, frameShare } from "../../src/errors.js";
import type { PeerRef, SchedulerExtension, SchedulerView } from "../../src/scheduler/extension.js";
import { freePort } from "../helpers/cluster.js";
import { waitFor } from "../helpers/proc.js";

const secret = "test-secret-0123456789";

describe("scheduler extensions (real scheduler, worker and client)", function () {
  this.timeout(60_000);

  // Protects: extensions plug into the scheduler without the scheduler importing them (issue 13):
  // start/services, onTaskFinished, onWorkerRemoved, onClientRemoved, ops and close all work.
  it("starts, hears tasks, workers and clients leave, serves its ops and closes with the scheduler", async () => {
    const events: string[] = [];
    let view: SchedulerView | undefined;
    let net: { bind: string; advertise: string } | undefined;
    const ext: SchedulerExtension = {
      name: "probe",
      ops: { "probe-echo": (msg: { op: string; [f: string]: unknown }, peer: PeerRef) => ({ echo: msg.n, peer }) },
      async start(s, n) {
        view = s;
        net = n;
        return { services: { probe: "probe://here" } };
      },
      onTaskFinished: (e) => events.push(`finished ${e.key} on ${e.worker}`),
      onWorkerRemoved: (address, reason) => events.push(`worker ${address} ${reason}`),
      onClientRemoved: (id) => events.push(`client ${id}`),
      close: async (reason) => void events.push(`close ${reason}`),
    };
    const scheduler = await Scheduler.start({ secret, host: "127.0.0.1", extensions: [async () => ext] });
    let worker: Worker | undefined;
    let client: Client | undefined;
    try {
      assert.equal(view?.address, scheduler.address);
      assert.equal(net?.bind, "127.0.0.1");
      assert.equal(scheduler.services.probe, "probe://here");
      worker = await Worker.start({ schedulerAddress: scheduler.address, secret, name: "w", host: "127.0.0.1", nthreads: 1 });
      client = await Client.connect(scheduler.address, { secret });
      assert.equal(await client.submit((x: number) => x + 1, 1, { key: "inc-1" }).result(), 2);
      assert.ok(events.includes(`finished inc-1 on ${worker.address}`), events.join("; "));

      // an extension op, from a registered client, with the client as its sender
      const rpc = new Rpc(await connect(scheduler.address, secret, 10_000), {});
      await assert.rejects(rpc.request({ op: "probe-echo", n: 1 }, 10_000), /before registering/);
      const raw = new Rpc(await connect(scheduler.address, secret, 10_000), {});
      const registered = await raw.request<{ services: Record<string, string> }>({ op: "register-client", id: "raw-client" }, 10_000);
      assert.equal(registered.services.probe, "probe://here", "clients hear the extension's services");
      // with the largest message it takes, as its handshake told (the default 512 MiB frames)
      const frames = { share: frameShare(DEFAULT_COMM.maxFrameBytes), peerMaxFrameBytes: DEFAULT_COMM.maxFrameBytes };
      assert.deepEqual(await raw.request({ op: "probe-echo", n: 7 }, 10_000), { echo: 7, peer: { kind: "client", id: "raw-client", frames } });
      raw.close("done");
      rpc.close("done");
      await waitFor("client removed", () => events.includes("client raw-client"), { timeoutMs: 10_000 });

      const address = worker.address;
      await worker.close("test over");
      worker = undefined;
      await waitFor("worker removed", () => events.some((e) => e.startsWith(`worker ${address}`)), { timeoutMs: 10_000 });
    } finally {
      await client?.close();
      await worker?.close("test over");
      await scheduler.close("test over");
    }
    assert.ok(events.includes("close test over"), events.join("; "));
  });

  // Protects: the scheduler imports no extension, so a dashboardAddress given to it directly
  // (not through withDashboard) is refused with the fix, not silently ignored.
  it("refuses dashboardAddress given to the scheduler itself, naming the way to get a dashboard", async () => {
    await assert.rejects(Scheduler.start({ secret, host: "127.0.0.1", dashboardAddress: ":0" }), (e) => e instanceof ConfigError && /dashboardExtension/.test(e.message));
  });

  // Protects: an extension that fails to start fails Scheduler.start with its error, and the
  // scheduler leaves nothing listening (its port can be taken again at once).
  it("an extension that fails to start fails the start and frees the port", async () => {
    const port = await freePort();
    let closed = "";
    const broken: SchedulerExtension = {
      name: "broken",
      start: async () => {
        throw new Error("broken extension");
      },
      close: async (reason) => void (closed = reason),
    };
    await assert.rejects(Scheduler.start({ secret, host: "127.0.0.1", port, extensions: [broken] }), /broken extension/);
    assert.equal(closed, "the scheduler failed to start");
    const again = await Scheduler.start({ secret, host: "127.0.0.1", port });
    await again.close("test over");
  });
});
