/**
 * What the jupyter extension runs, as data (no I/O but the file checks handed in): the resolved
 * request, Jupyter's command line and environment, the URLs, how a running server compares with
 * a new request, and the token blanked out of Jupyter's output. Unit-tested as plain values.
 */
import path from "node:path";
import { DEFAULT_JUPYTER_START_MS, type JupyterApp, type StartJupyter } from "../../protocol/messages-jupyter.js";

/** The kernel new notebooks get unless the request names one (`npm run setup:jupyter` installs it). */
export const DEFAULT_KERNEL = "tslab";

/** A start-jupyter request with every default filled in. */
export interface JupyterRequest {
  app: JupyterApp;
  ip: string;
  /** 0: any free port */
  port: number;
  kernel: string;
  notebookDir: string;
  command: string;
  timeoutMs: number;
}

/** The request with the scheduler's defaults (`advertise`: the host the scheduler advertises; `cwd`: its directory). */
export function resolveRequest(m: StartJupyter, advertise: string, cwd: string): JupyterRequest {
  return {
    app: m.app ?? "notebook",
    ip: m.ip ?? advertise,
    port: m.port ?? 0,
    kernel: m.kernel ?? DEFAULT_KERNEL,
    notebookDir: path.resolve(cwd, m.notebookDir ?? "."),
    command: m.command ?? "jupyter",
    timeoutMs: m.timeout ?? DEFAULT_JUPYTER_START_MS,
  };
}

/**
 * Where the running server differs from what a new request asks (fields the request leaves
 * out, and port 0, ask for nothing): empty when the running one will do.
 */
export function conflicts(running: Omit<JupyterRequest, "timeoutMs">, m: StartJupyter, cwd: string): string[] {
  const out: string[] = [];
  const want = (field: keyof typeof running, v: string | number | undefined) => {
    if (v !== undefined && v !== running[field]) out.push(`${field} ${JSON.stringify(v)} (it has ${JSON.stringify(running[field])})`);
  };
  want("app", m.app);
  want("ip", m.ip);
  want("port", m.port === 0 ? undefined : m.port);
  want("kernel", m.kernel);
  want("notebookDir", m.notebookDir === undefined ? undefined : path.resolve(cwd, m.notebookDir));
  want("command", m.command);
  return out;
}

/**
 * The executable `command` names: a path (with a slash) as it is, else the first executable of
 * that name in `PATH`'s directories; undefined when there is none. `isExecutable` is the file check.
 */
export function findCommand(command: string, PATH: string | undefined, isExecutable: (file: string) => boolean): string | undefined {
  if (command.includes("/")) return isExecutable(command) ? path.resolve(command) : undefined;
  for (const dir of (PATH ?? "").split(":")) {
    if (!dir) continue;
    const file = path.join(dir, command);
    if (isExecutable(file)) return file;
  }
  return undefined;
}

/**
 * Jupyter's subcommand `jupyter-<app>`, as jupyter itself finds it: next to the jupyter
 * executable, then on PATH.
 */
export function findSubcommand(jupyter: string, app: JupyterApp, PATH: string | undefined, isExecutable: (file: string) => boolean): string | undefined {
  const beside = path.join(path.dirname(jupyter), `jupyter-${app}`);
  return isExecutable(beside) ? beside : findCommand(`jupyter-${app}`, PATH, isExecutable);
}

/** What to install when there is no Jupyter (or not this app), said where it is missing. */
export function installHint(app: JupyterApp): string {
  return app === "lab"
    ? 'install JupyterLab (pip install jupyterlab; Debian 12 has no package of it), or ask for app: "notebook" (apt-get install jupyter-notebook)'
    : "install it: apt-get install jupyter-notebook (Debian, Ubuntu), or pip install notebook";
}

/**
 * Jupyter's arguments (after the jupyter executable). The token is not among them (other users
 * can read a command line): it goes in JUPYTER_TOKEN, which notebook 6 and jupyter_server read,
 * and which they then print as `...` in their own log. `root`: the scheduler runs as root,
 * which Jupyter refuses without --allow-root.
 */
export function jupyterArgs(r: Pick<JupyterRequest, "app" | "ip" | "kernel" | "notebookDir">, port: number, root: boolean): string[] {
  return [
    r.app,
    "--no-browser",
    `--ip=${r.ip}`,
    `--port=${port}`,
    // a port that is taken is an error here, not a quiet move to the next one
    "--port-retries=0",
    `--notebook-dir=${r.notebookDir}`,
    `--MappingKernelManager.default_kernel_name=${r.kernel}`,
    ...(root ? ["--allow-root"] : []),
  ];
}

/** The variables Jupyter (and through it every kernel) runs with, on top of the scheduler's own. */
export function jupyterEnv(
  base: NodeJS.ProcessEnv,
  o: { token: string; runtimeDir: string; schedulerFile: string; kernelDirs: string[] },
): NodeJS.ProcessEnv {
  const jupyterPath = [...o.kernelDirs, ...(base.JUPYTER_PATH ? [base.JUPYTER_PATH] : [])].join(":");
  return {
    ...base,
    JUPYTER_TOKEN: o.token,
    // its runtime files (connection files, the server's info with the token) in a directory of its own, removed at stop
    JUPYTER_RUNTIME_DIR: o.runtimeDir,
    ...(jupyterPath ? { JUPYTER_PATH: jupyterPath } : {}),
    DASK_SCHEDULER_FILE: o.schedulerFile,
  };
}

/** The host part of a URL for `ip` (a wildcard address is reached by the host's name). */
export function urlHost(ip: string, hostname: string): string {
  if (ip === "0.0.0.0" || ip === "::" || ip === "*" || ip === "") return hostname;
  return ip.includes(":") ? `[${ip}]` : ip;
}

/** The address to probe the server on from this host (a wildcard listens on loopback too). */
export function probeHost(ip: string): string {
  if (ip === "0.0.0.0" || ip === "*" || ip === "") return "127.0.0.1";
  if (ip === "::") return "[::1]";
  return ip.includes(":") ? `[${ip}]` : ip;
}

/** `line` with every occurrence of the token replaced (Jupyter's output goes to the scheduler's log). */
export function redact(line: string, token: string): string {
  return token ? line.split(token).join("<token>") : line;
}
