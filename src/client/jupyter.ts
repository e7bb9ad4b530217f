/**
 * Jupyter next to the scheduler, for the client: client.startJupyter delegates here (the
 * scheduler side is src/extensions/jupyter/). Options are checked here, before anything is
 * sent; what only the scheduler's host can tell (Jupyter installed? the port free? the kernel
 * there?) comes back as the scheduler's JupyterError, ConfigError or TimeoutError.
 */
import { RemoteError } from "../comm/rpc.js";
import { ConfigError, JupyterError, ProtocolError, TimeoutError } from "../errors.js";
import type { Message } from "../protocol/messages.js";
import { DEFAULT_JUPYTER_START_MS, JUPYTER_APPS, type JupyterApp, type JupyterServerInfo, type StartJupyter } from "../protocol/messages-jupyter.js";
import { Op } from "../protocol/ops.js";

export interface JupyterOptions {
  /** `"notebook"` (default: Debian's jupyter-notebook) or `"lab"` (JupyterLab, where it is installed). */
  app?: JupyterApp;
  /** The address it listens on (default: the host the scheduler advertises, where a tunnel reaches it). */
  ip?: string;
  /** Its port (default 0: a free one); a port that is taken is a JupyterError, not a quiet move. */
  port?: number;
  /** The kernel of new notebooks (default `"tslab"`, which `npm run setup:jupyter` installs). */
  kernel?: string;
  /** The directory it serves, on the scheduler's host (default: the scheduler's working directory). */
  notebookDir?: string;
  /** The jupyter executable (default `"jupyter"` on the scheduler's PATH). */
  command?: string;
  /** How long the start may take, ms (default 60 000); past it, a TimeoutError. */
  timeout?: number;
}

/** A running Jupyter server next to the scheduler. */
export type JupyterServer = JupyterServerInfo;

const KEYS: ReadonlyArray<keyof JupyterOptions> = ["app", "ip", "port", "kernel", "notebookDir", "command", "timeout"];
/** Beyond the start's own timeout: the scheduler's answer may wait for a failed server to stop. */
const REPLY_MARGIN_MS = 20_000;

function bad(name: string, must: string, got: unknown): TypeError {
  return new TypeError(`startJupyter's ${name} must be ${must}, got ${typeof got === "string" ? JSON.stringify(got) : String(got)}`);
}

/** The start-jupyter message for these options (a TypeError names a bad one). */
export function startJupyterMessage(options: JupyterOptions): StartJupyter {
  if (typeof options !== "object" || options === null || Array.isArray(options)) throw bad("options", "an object", options);
  const unknown = Object.keys(options).filter((k) => !(KEYS as string[]).includes(k));
  if (unknown.length) throw new TypeError(`startJupyter got unknown option(s) ${unknown.map((k) => JSON.stringify(k)).join(", ")}; it takes ${KEYS.join(", ")}`);
  const { app, port, timeout } = options;
  if (app !== undefined && !(JUPYTER_APPS as readonly unknown[]).includes(app)) throw bad("app", `one of ${JUPYTER_APPS.map((a) => JSON.stringify(a)).join(", ")}`, app);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw bad("port", "an integer from 0 to 65535", port);
  if (timeout !== undefined && !(typeof timeout === "number" && Number.isFinite(timeout) && timeout > 0)) throw bad("timeout", "a number of ms > 0", timeout);
  for (const k of ["ip", "kernel", "notebookDir", "command"] as const) {
    const v = options[k];
    if (v !== undefined && !(typeof v === "string" && v !== "" && !v.includes("\0"))) throw bad(k, "a non-empty string", v);
  }
  const msg: StartJupyter = { op: Op.startJupyter };
  for (const k of KEYS) if (options[k] !== undefined) (msg as Record<string, unknown>)[k] = options[k];
  return msg;
}

const REMOTE: Record<string, new (message: string, options?: { cause?: unknown }) => Error> = { JupyterError, ConfigError, TimeoutError, ProtocolError };

/**
 * Start Jupyter on the scheduler's host, or get the one already running there. Its notebooks
 * find the scheduler file in `process.env.DASK_SCHEDULER_FILE`; it ends with the scheduler.
 */
export async function startJupyter(host: { request<T>(msg: Message, timeoutMs?: number): Promise<T> }, options: JupyterOptions = {}): Promise<JupyterServer> {
  const msg = startJupyterMessage(options);
  try {
    return await host.request<JupyterServer>(msg as unknown as Message, (options.timeout ?? DEFAULT_JUPYTER_START_MS) + REPLY_MARGIN_MS);
  } catch (err) {
    const Named = err instanceof RemoteError ? REMOTE[err.remote.name] : undefined;
    if (Named) throw new Named((err as RemoteError).remote.message, { cause: err });
    throw err;
  }
}
