/**
 * Entry point of a nanny's worker child. Starts a Worker with the options sent over IPC;
 * exits when the worker closes or when the IPC channel to the nanny goes away.
 */
import { describeError } from "../errors.js";
import { configureLogger, logger } from "../log.js";
import { prestartThread } from "../worker/executor.js";
import { Worker } from "../worker/worker.js";
import { type ChildMessage, type NannyToWorker, parseNannyToWorker } from "../protocol/messages-nanny.js";
import type { WorkerOptions } from "../worker/options.js";

let worker: Worker | undefined;

// the worker's first task thread starts while this child waits for its start message
prestartThread();

function send(m: ChildMessage): void {
  if (process.connected) process.send!(m);
}

async function finish(code: number): Promise<never> {
  // let the IPC message leave before exiting
  await new Promise((r) => setImmediate(r));
  process.exit(code);
}

process.on("message", async (raw: unknown) => {
  let m: NannyToWorker<WorkerOptions>;
  try {
    m = parseNannyToWorker<WorkerOptions>(raw);
  } catch (err) {
    // a malformed message from the nanny: say why, and end as if the nanny had gone away
    logger("worker").error({ err: describeError(err) }, "malformed message from the nanny; closing");
    if (worker) await worker.close("malformed message from the nanny");
    return finish(1);
  }
  if (m.type === "start" && !worker) {
    configureLogger({ ...m.log, role: "worker" });
    try {
      worker = await Worker.start(m.options);
    } catch (err) {
      send({ type: "start-failed", reason: describeError(err) });
      await finish(1);
    }
    const w = worker!;
    void w.closed.then(async (reason) => {
      send({ type: "closing", reason, clean: w.cleanExit, retired: w.retired, restart: w.restartRequested });
      await finish(w.cleanExit ? 0 : 1);
    });
    send({ type: "ready", address: w.address });
  } else if (m.type === "close") {
    if (worker) await worker.close(m.reason);
    else await finish(0);
  }
});

// the nanny is gone (or closed the channel): never outlive it
process.on("disconnect", () => {
  if (worker) void worker.close("nanny went away").finally(() => process.exit(0));
  else process.exit(0);
});
