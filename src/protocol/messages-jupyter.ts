/**
 * Jupyter next to the scheduler (client.startJupyter <-> the scheduler's jupyter extension,
 * src/extensions/jupyter/): the request, its parser, and the reply. An extension op, routed raw:
 * the extension runs the parser itself. The reply carries the server's token: the connection
 * that asks has proven the cluster secret, which already lets it run code on the scheduler.
 */
import { type Message, fieldError, num, optional, str } from "./messages.js";

export const JUPYTER_APPS = ["notebook", "lab"] as const;
/** How long a start may take unless the request says (a loaded node: Jupyter's Python start takes seconds). */
export const DEFAULT_JUPYTER_START_MS = 60_000;
export type JupyterApp = (typeof JUPYTER_APPS)[number];

/**
 * `start-jupyter`: start `jupyter <app>` on the scheduler's host (or return the one running).
 * Absent fields take the scheduler's defaults: `ip` the host the scheduler advertises, `port` 0
 * (a free one), `kernel` "tslab", `notebookDir` the scheduler's working directory, `command`
 * "jupyter" on the scheduler's PATH; `timeout` (ms) bounds the start.
 */
export type StartJupyter = {
  op: "start-jupyter";
  app?: JupyterApp;
  ip?: string;
  port?: number;
  kernel?: string;
  notebookDir?: string;
  command?: string;
  timeout?: number;
};

/** A running Jupyter server, as start-jupyter replies. */
export interface JupyterServerInfo {
  /** Open this (it carries the token): `http://ip:port/?token=...` */
  url: string;
  /** The server without the token: `http://ip:port/` */
  baseUrl: string;
  token: string;
  /** The address it listens on, and its port. */
  ip: string;
  port: number;
  /** The host it runs on (the scheduler's), for an SSH tunnel. */
  hostname: string;
  app: JupyterApp;
  /** The kernel new notebooks get. */
  kernel: string;
  notebookDir: string;
  /** What its notebooks find in `process.env.DASK_SCHEDULER_FILE`. */
  schedulerFile: string;
  /** The Jupyter server's process id (on the scheduler's host). */
  pid: number;
}

const text = (m: Message, f: string): string => {
  const v = str(m, f);
  if (v === "" || v.includes("\0")) throw fieldError(m, f, "a non-empty string without NUL", v);
  return v;
};

export function parseStartJupyter(m: Message): StartJupyter {
  if (m.op !== "start-jupyter") throw fieldError(m, "op", '"start-jupyter"', m.op);
  const app = optional(m, "app", str);
  if (app !== undefined && !(JUPYTER_APPS as readonly string[]).includes(app)) throw fieldError(m, "app", `one of ${JUPYTER_APPS.join(", ")}`, app);
  const port = optional(m, "port", num);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw fieldError(m, "port", "an integer from 0 to 65535", port);
  const timeout = optional(m, "timeout", num);
  if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0)) throw fieldError(m, "timeout", "a number of ms > 0", timeout);
  for (const f of ["ip", "kernel", "notebookDir", "command"]) optional(m, f, text);
  return m as unknown as StartJupyter;
}
