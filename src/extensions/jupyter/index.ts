/**
 * Jupyter next to the scheduler (client.startJupyter; the Dask HPC guide's interactive session,
 * which starts Jupyter through run_on_scheduler): one server per scheduler, started on request
 * (`start-jupyter`) on the scheduler's host, whose notebooks find the scheduler file in
 * DASK_SCHEDULER_FILE, and which ends with the scheduler: stopped when it closes, and by its
 * guard (guard.ts) when the scheduler's process ends any other way.
 *
 * A second request while one runs gets the running server, unless it asks for something else
 * (another port, kernel, ...): that is an error naming the difference. A server that exits by
 * itself is logged (warn) and forgotten: the next request starts a new one.
 */
import os from "node:os";
import path from "node:path";
import { JupyterError } from "../../errors.js";
import { logger } from "../../log.js";
import { type JupyterServerInfo, parseStartJupyter } from "../../protocol/messages-jupyter.js";
import { Op } from "../../protocol/ops.js";
import type { SchedulerExtension, SchedulerView } from "../../scheduler/extension.js";
import type { JupyterProcess } from "./launch.js";
import { conflicts, resolveRequest } from "./spec.js";

const log = () => logger("jupyter");

export interface JupyterExtensionOptions {
  /** The scheduler's file (its notebooks get this path); without one a file is written for them. */
  schedulerFile?: string;
  /** The cluster secret, for the file written when the scheduler has none. */
  secret?: string;
}

export function jupyterExtension(o: JupyterExtensionOptions): SchedulerExtension {
  let view: SchedulerView | undefined;
  let advertise = os.hostname();
  let running: Promise<JupyterProcess> | undefined;
  let closed = false;
  const cwd = process.cwd();
  const schedulerFile = o.schedulerFile === undefined ? undefined : path.resolve(cwd, o.schedulerFile);

  const launch = (m: ReturnType<typeof parseStartJupyter>): Promise<JupyterProcess> => {
    const r = resolveRequest(m, advertise, cwd);
    if (schedulerFile === undefined && o.secret === undefined) {
      return Promise.reject(new JupyterError("this scheduler has no scheduler file, and its jupyter extension no secret to write one for the notebooks: start it with a scheduler file"));
    }
    const scheduler = schedulerFile ?? { type: "Scheduler" as const, id: view!.id, address: view!.address, services: view!.services, started: Date.now() / 1000, secret: o.secret! };
    // launch.ts (child processes, readline) loads on the first request, not at every scheduler's start
    const p = import("./launch.js").then(({ launchJupyter }) => launchJupyter(r, scheduler));
    p.then(
      (j) => {
        log().info({ url: j.info.baseUrl, pid: j.info.pid, app: j.info.app, kernel: j.info.kernel, notebookDir: j.info.notebookDir, schedulerFile: j.info.schedulerFile }, "jupyter server started");
        void j.exited.then(({ exit, output }) => {
          if (running !== p) return; // stopped on purpose
          running = undefined;
          log().warn({ url: j.info.baseUrl, code: exit.code, signal: exit.signal, output }, "jupyter server exited by itself");
        });
      },
      () => {
        if (running === p) running = undefined;
      },
    );
    return p;
  };

  const start = async (m: ReturnType<typeof parseStartJupyter>): Promise<JupyterServerInfo> => {
    for (;;) {
      if (closed) throw new JupyterError("the scheduler is closing: no jupyter server starts now");
      if (!running) {
        running = launch(m);
        return (await running).info;
      }
      const p = running;
      const j = await p.catch(() => undefined);
      // a start that failed, asked for by another request at the same time: try this one's
      if (!j) {
        if (running === p) running = undefined;
        continue;
      }
      const diff = conflicts(j.request, m, cwd);
      if (diff.length) {
        throw new JupyterError(`a jupyter server already runs next to this scheduler (${j.info.baseUrl}); it was not started with ${diff.join(", ")}: one server per scheduler, which ends with it`);
      }
      return j.info;
    }
  };

  return {
    name: "jupyter",
    ops: {
      [Op.startJupyter]: (m) => start(parseStartJupyter(m)),
    },
    async start(v, net) {
      view = v;
      advertise = net.advertise;
    },
    async close(reason) {
      closed = true;
      const p = running;
      running = undefined;
      const j = await p?.catch(() => undefined);
      if (!j) return;
      await j.stop();
      log().info({ url: j.info.baseUrl, reason }, "jupyter server stopped");
    },
  };
}
