// deploy's pure pieces: the signal wiring every launcher shares, and the environment a
// nanny's child gets (the real starts are covered by test/integration/deploy.test.ts and test/mpi).
import assert from "node:assert/strict";
import { workerChildEnv } from "../../src/deploy/roles.js";
import { exitOnSignals, stopOnSignals } from "../../src/deploy/signals.js";

describe("deploy: signals and child environment", () => {
  // protects: Ctrl-C / scancel stop the role with a reason naming the signal, once
  it("stopOnSignals stops the handle on SIGINT or SIGTERM, naming the signal; the returned function takes the handlers off", async () => {
    const reasons: string[] = [];
    const before = { int: process.listenerCount("SIGINT"), term: process.listenerCount("SIGTERM") };
    const off = stopOnSignals({ stop: async (r) => (reasons.push(r), { ok: true, reason: r, status: 0 }) });
    assert.equal(process.listenerCount("SIGTERM"), before.term + 1);
    process.emit("SIGTERM", "SIGTERM");
    assert.deepEqual(reasons, ["received SIGTERM"]);
    off();
    assert.equal(process.listenerCount("SIGINT"), before.int);
    assert.equal(process.listenerCount("SIGTERM"), before.term);
  });

  // protects: a job-queue cluster's exit hook never takes a signal a launcher already handles
  it("exitOnSignals with unlessHandled leaves alone the signals someone else handles", () => {
    const mine = () => {};
    process.on("SIGHUP", mine);
    const handlers = process.listenerCount("SIGHUP");
    try {
      const taken = exitOnSignals(() => {}, ["SIGHUP"], { unlessHandled: true });
      assert.deepEqual(taken, []);
      assert.equal(process.listenerCount("SIGHUP"), handlers);
    } finally {
      process.off("SIGHUP", mine);
    }
  });

  // protects: a nanny's child never sees the MPI launcher's variables (it would join the MPI job and hang it)
  it("workerChildEnv drops the launcher's variables and keeps the rest", () => {
    const env = workerChildEnv({ OMPI_COMM_WORLD_RANK: "2", PMI_RANK: "2", PMIX_RANK: "2", HYDRA_CONTROL_FD: "9", MPI_LOCALRANKID: "0", PATH: "/bin", DASK_MPI_TS_LOG_LEVEL: "warn" });
    assert.deepEqual(env, { PATH: "/bin", DASK_MPI_TS_LOG_LEVEL: "warn" });
  });
});
