/**
 * Entry point of a nanny's worker child. Starts a Worker with the options sent over IPC;
 * exits when the worker closes or when the IPC channel to the nanny goes away.
 */
import { describeError } from "../errors.js";
import { configureLogger } from "../log.js";
import { Worker } from "../worker/worker.js";
import type { ChildMessage, NannyMessage } from "../protocol/messages-nanny.js";
import type { WorkerOptions } from "../worker/options.js";

let worker: Worker | undefined;

function send(m: ChildMessage): void {
  if (process.connected) process.send!(m);
}

async function finish(code: number): Promise<never> {
  // let the IPC message leave before exiting
  await new Promise((r) => setImmediate(r));
  process.exit(code);
}

process.on("message", async (m: NannyMessage<WorkerOptions>) => {
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
      send({ type: "closing", reason, clean: w.cleanExit, retired: w.retired });
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
