/**
 * Jupyter for the tests of client.startJupyter: Debian's Jupyter Notebook and the tslab kernel
 * of `npm run setup:jupyter` (.ci/run installs both; under CI a missing one fails the test), a
 * user's project (a directory whose node_modules has dask-mpi-ts, as `npm install` makes it),
 * and code cells run on a server through the kernel protocol (fixtures/kernel-cells.ts).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "./cluster.js";
import { exitWithin, spawnProc } from "./proc.js";
import { ciMissing, inCi } from "./skip.js";

export const TSLAB_SPEC = path.join(ROOT, ".tslab/share/jupyter/kernels/tslab/kernel.json");
export const EXAMPLE_NOTEBOOK = path.join(ROOT, "examples/jupyter/cluster.ipynb");

/** Why the Jupyter tests cannot run here (undefined: they can); under CI, an error. */
export function jupyterUnavailable(): string | undefined {
  let why: string | undefined;
  if (spawnSync("sh", ["-c", "command -v jupyter-notebook"]).status !== 0) why = "no jupyter-notebook on PATH (apt-get install jupyter-notebook; .ci/run installs it)";
  else if (!existsSync(TSLAB_SPEC)) why = `the tslab kernel is not installed (${TSLAB_SPEC}): npm run setup:jupyter (.ci/run runs it)`;
  if (why && inCi()) throw ciMissing(why);
  return why;
}

/** A user's project in `dir`: node_modules/dask-mpi-ts is this package; the example notebook beside it. */
export function userProject(dir: string): string {
  mkdirSync(path.join(dir, "node_modules"), { recursive: true });
  symlinkSync(ROOT, path.join(dir, "node_modules", "dask-mpi-ts"), "dir");
  writeFileSync(path.join(dir, "cluster.ipynb"), readFileSync(EXAMPLE_NOTEBOOK));
  return dir;
}

/** The code cells of a notebook, each as one string. */
export function codeCells(file: string): string[] {
  const nb = JSON.parse(readFileSync(file, "utf8")) as { cells: Array<{ cell_type: string; source: string | string[] }> };
  return nb.cells.filter((c) => c.cell_type === "code").map((c) => (Array.isArray(c.source) ? c.source.join("") : c.source));
}

export interface CellResult {
  status: string;
  stdout: string;
  stderr: string;
  results: string[];
  error?: { ename: string; evalue: string };
}

/** Run `cells` in a new kernel of the server (kernel protocol over its WebSocket); one result per cell run. */
export async function runCells(server: { baseUrl: string; token: string }, kernel: string, cells: string[], dir: string, timeoutMs = 120_000): Promise<CellResult[]> {
  const file = path.join(dir, `cells-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(cells));
  const p = spawnProc(process.execPath, ["--experimental-websocket", "--no-warnings", path.join(ROOT, "dist/test/integration/fixtures/kernel-cells.js"), server.baseUrl, kernel, file], { env: { JUPYTER_TOKEN: server.token } });
  const { code } = await exitWithin(p, timeoutMs);
  if (code !== 0) throw new Error(`kernel-cells exited with code ${code}:\n${p.stderr}`);
  return p.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as CellResult);
}
