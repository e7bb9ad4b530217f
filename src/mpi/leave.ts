/**
 * A worker rank whose worker cannot go on (its nanny gave up after a crash loop, or a worker
 * without a nanny closed with an error) leaves the cluster but stays in the MPI job. Leaving
 * the job would end it: the launcher aborts every rank when one fails, and the client's
 * futures with them, although the other workers could finish the computation.
 *
 * The scheduler has already dropped the worker when its connection closed (the process had
 * exited before its nanny gave up): its tasks are rescheduled and the results only it held are
 * recomputed elsewhere. This rank then tells the scheduler why (logged there at error level and
 * listed in schedulerInfo().failedWorkers) and waits, connected to it, until the scheduler
 * closes or the client rank's program ends. Its status then goes through the end protocol
 * (job.ts) as any worker rank's does.
 */
import { hostname } from "node:os";
import type { TlsFiles } from "../comm/tls.js";
import { describeError } from "../errors.js";
import { logger } from "../log.js";
import { Op } from "../protocol/ops.js";
import type { MpiJob } from "./job.js";

/** How long one attempt to reach the scheduler may take; past it the scheduler counts as gone. */
const CONNECT_TIMEOUT_MS = 10_000;
const REPORT_TIMEOUT_MS = 10_000;
/** Between a closed connection and the next try (a closing scheduler refuses at once). */
const RECONNECT_PAUSE_MS = 250;
const log = () => logger("mpi");

/** The scheduler: its address and secret, or its scheduler file (read again on each try: it follows a restarted scheduler). */
export type SchedulerTarget = ({ address: string; secret: string } | { schedulerFile: string }) & { tls?: TlsFiles };

/**
 * Report the failure (if any: a worker retired or at the end of its lifetime ended cleanly),
 * then idle until the cluster is over. Resolves 0 once the scheduler is
 * gone, or with the client rank's exit status once its program has ended.
 */
export async function stayIdle(job: MpiJob, scheduler: SchedulerTarget, failed?: { name: string; reason: string }): Promise<number> {
  // loaded here only: a rank that never fails does not pay for them at start-up
  const [{ DEFAULT_COMM, connect }, { Rpc }, { loadTls }, { readSchedulerFile }] = await Promise.all([
    import("../comm/connect.js"),
    import("../comm/rpc.js"),
    import("../comm/tls.js"),
    import("../comm/scheduler-file.js"),
  ]);
  const comm = { ...DEFAULT_COMM, tls: scheduler.tls ? loadTls(scheduler.tls) : undefined };
  const clientEnded = job.untilClientEnds();
  let reported = false;
  for (;;) {
    let rpc: InstanceType<typeof Rpc>;
    try {
      const at = "schedulerFile" in scheduler ? readSchedulerFile(scheduler.schedulerFile) : scheduler;
      if (!at) {
        // a scheduler that closed removed its file: the cluster is over
        log().info({ schedulerFile: (scheduler as { schedulerFile: string }).schedulerFile }, "scheduler file gone; idle rank ending");
        return 0;
      }
      rpc = new Rpc(await connect(at.address, at.secret, CONNECT_TIMEOUT_MS, comm), { [Op.schedulerClosing]: () => {} });
    } catch (err) {
      // the scheduler no longer answers: the cluster is over (exitAfter still waits for the
      // client rank's status, if there is one)
      log().info({ reason: describeError(err) }, "scheduler gone; idle rank ending");
      return 0;
    }
    const closed = new Promise<"closed">((r) => rpc.comm.onClose(() => r("closed")));
    if (failed && !reported) {
      reported = true;
      const report = { op: Op.workerFailed, name: failed.name, host: hostname(), reason: failed.reason };
      rpc.request(report, REPORT_TIMEOUT_MS).catch((err) => log().warn({ reason: describeError(err) }, "could not report the failed worker to the scheduler"));
    }
    const first = await Promise.race([closed, clientEnded]);
    if (first !== "closed") {
      rpc.close("the client rank's program ended");
      return first;
    }
    // closed by a scheduler that is shutting down (the next try is refused), or by the network
    await new Promise((r) => setTimeout(r, RECONNECT_PAUSE_MS));
  }
}
