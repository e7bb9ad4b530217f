// Shared by the MPI tests of a worker whose nanny gives up (issue 12, point 9).
import assert from "node:assert/strict";

/** The nanny gives up at a worker's first death (distributed.nanny.max-restarts 0). */
export const GIVE_UP_AT_FIRST_DEATH = { DASK_MPI_TS_DISTRIBUTED__NANNY__MAX_RESTARTS: "0" };

/** The scheduler logged, at error level, that worker `name` failed, with a reason. */
export function assertSchedulerLoggedFailure(stderr: string, name: string): void {
  const lines = stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const line = lines.find((l) => l.component === "scheduler" && l.msg === "worker failed and left the cluster");
  assert.ok(line, `no scheduler log line about the failed worker in:\n${stderr}`);
  assert.equal(line.level, 50);
  assert.equal(line.worker, name);
  assert.match(String(line.reason), /not restarting/);
}

/** What fixtures/give-up-client printed: the whole graph's sum, worker 2 listed as failed, 3 left. */
export function assertGaveUpOutput(stdout: string, stderr: string): void {
  const line = stdout.split("\n").find((l) => l.startsWith("{") && !l.includes('"level"'));
  assert.ok(line, `fixture output missing:\n${stdout}\n${stderr}`);
  const out = JSON.parse(line) as { sum: number; expected: number; failed: string[]; reason: string; workers: string[] };
  assert.equal(out.sum, out.expected);
  assert.deepEqual(out.failed, ["2"]);
  assert.match(out.reason, /not restarting/);
  assert.deepEqual(out.workers, ["3"]);
  assertSchedulerLoggedFailure(stderr, "2");
}
