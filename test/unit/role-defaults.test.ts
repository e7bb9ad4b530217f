// The roles' own defaults (literals in scheduler/options.ts, worker/options.ts, nanny/options.ts,
// comm/connect.ts, worker/memory.ts, log.ts: roles do not read the configuration) must stay equal
// to the configuration's defaults, which deploy/settings.ts maps onto the same options. Protects:
// a role started without a launcher (Scheduler.start, Worker.start in a program or a test)
// behaves as one started by dask-mpi-ts with no configuration file.
import assert from "node:assert/strict";
import { DEFAULT_COMM } from "../../src/comm/connect.js";
import { DEFAULT_CONFIG } from "../../src/config/defaults.js";
import { schedulerSettings, workerSettings } from "../../src/deploy/settings.js";
import { LOG_DEFAULTS } from "../../src/log.js";
import { NANNY_DEFAULTS } from "../../src/nanny/options.js";
import { JOURNAL_DEFAULTS, SCHEDULER_DEFAULTS } from "../../src/scheduler/options.js";
import { SchedulerState } from "../../src/scheduler/state.js";
import { DEFAULT_THRESHOLDS } from "../../src/worker/memory.js";
import { WORKER_DEFAULTS } from "../../src/worker/options.js";

describe("role defaults equal the configuration's defaults", () => {
  const config = { values: DEFAULT_CONFIG, origins: {} };

  it("scheduler and comm", () => {
    assert.deepEqual(schedulerSettings(config), { ...SCHEDULER_DEFAULTS, comm: DEFAULT_COMM });
    // the journal's (issue 16), as a journal directory turns it on
    assert.deepEqual(schedulerSettings(config, { journal: "/j" }).journal, { directory: "/j", ...JOURNAL_DEFAULTS });
    // the pure core has its own literal (it imports no options module)
    assert.equal(new SchedulerState({}).allowedFailures, SCHEDULER_DEFAULTS.allowedFailures);
  });

  it("worker and nanny", () => {
    const { worker, nanny } = workerSettings(config, {}, { workersOnNode: 1 });
    const { memoryLimit, localDirectory, lifetimeMs, comm, ...rest } = worker;
    assert.deepEqual(rest, WORKER_DEFAULTS);
    assert.deepEqual(comm, DEFAULT_COMM);
    assert.equal(localDirectory, undefined);
    assert.equal(lifetimeMs, undefined);
    assert.ok(memoryLimit > 0, `"auto" memory limit resolved to ${memoryLimit}`);
    assert.deepEqual(nanny, NANNY_DEFAULTS);
    const { "monitor-interval": _, "max-spill": __, ...thresholds } = DEFAULT_CONFIG.distributed.worker.memory;
    assert.deepEqual(DEFAULT_THRESHOLDS, thresholds);
  });

  it("logging", () => {
    assert.deepEqual(LOG_DEFAULTS, DEFAULT_CONFIG.logging);
  });
});
