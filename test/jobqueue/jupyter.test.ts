// The README's "many small jobs + an interactive session" workflow on a real single-node SLURM:
// a scheduler job runs dask-scheduler-ts, a worker job array joins it, client.startJupyter()
// co-launches Jupyter (tslab kernel) next to the scheduler in its job; the example notebook
// (examples/jupyter/cluster.ipynb) runs headless through the kernel protocol and computes on the
// cluster, and once in headless Chromium (open the URL with its token, run a cell, see the
// result); a worker job that expires is replaced by the next one of the array; the server
// ends with the scheduler. Jobs are cancelled by id, and every process carries the test's tag.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Client } from "../../src/index.js";
import { browserUnavailable, launchBrowser } from "../helpers/browser.js";
import { BIN, tempDir } from "../helpers/cluster.js";
import { codeCells, jupyterUnavailable, runCells, userProject } from "../helpers/jupyter.js";
import { TAG_VAR, cleanupProcs, taggedPids, waitFor } from "../helpers/proc.js";
import { ensureSlurm, squeueIds } from "../helpers/queues.js";
import { skipIf } from "../helpers/skip.js";

const gone = (ids: string[]) => () => !squeueIds().some((id) => ids.some((j) => id === j || id.startsWith(`${j}_`)));

describe("Jupyter next to a scheduler job on real SLURM [jobqueue]", function () {
  this.timeout(300_000);
  const tmp = tempDir("dask-mpi-ts-jupyter-slurm-");
  let tag = "";
  const jobs: string[] = [];

  before(function () {
    this.timeout(900_000);
    skipIf(this, ensureSlurm());
    skipIf(this, jupyterUnavailable());
    skipIf(this, browserUnavailable());
  });

  beforeEach(() => {
    tag = randomUUID();
    process.env[TAG_VAR] = tag; // sbatch hands the environment to the jobs
  });

  afterEach(async () => {
    delete process.env[TAG_VAR];
    // by id, only ours (an array's id cancels all of its jobs)
    const left = jobs.filter((j) => !gone([j])());
    if (left.length) execFileSync("scancel", left);
    await waitFor("the jobs to leave squeue", gone(jobs.splice(0)), { timeoutMs: 60_000 });
    await waitFor("the jobs' processes to end", () => taggedPids(tag).length === 0, { timeoutMs: 30_000 });
    await cleanupProcs();
  });

  after(() => tmp.remove());

  function sbatch(file: string, lines: string[], project: string): string {
    writeFileSync(file, ["#!/bin/bash", ...lines].join("\n") + "\n");
    const id = execFileSync("sbatch", ["--parsable", "--chdir", project, file], { encoding: "utf8" }).trim().split(";")[0]!;
    jobs.push(id);
    return id;
  }

  it("a scheduler job, a worker job array, and Jupyter next to the scheduler: the notebook runs headless and in Chromium; an expired worker job is replaced; the server ends with the scheduler", async () => {
    const project = userProject(path.join(tmp.dir, "project"));
    const file = path.join(project, "scheduler.json");
    const name = `dask-jupyter-${tag.slice(0, 8)}`;
    // the README's scheduler job script and worker job array (one CPU each: on this 2-CPU node the second worker waits for a free one)
    const schedulerJob = sbatch(path.join(project, "scheduler.sh"), [
      `#SBATCH --job-name=${name}-scheduler`, "#SBATCH --ntasks=1", "#SBATCH --cpus-per-task=1", "#SBATCH --mem=1G", `#SBATCH --output=${project}/scheduler-%j.out`,
      `exec ${process.execPath} ${BIN("dask-scheduler-ts")} --scheduler-file ${file} --interface lo --no-dashboard`,
    ], project);
    const array = sbatch(path.join(project, "workers.sh"), [
      `#SBATCH --job-name=${name}-workers`, "#SBATCH --array=0-1", "#SBATCH --ntasks=1", "#SBATCH --cpus-per-task=1", "#SBATCH --mem=512M", `#SBATCH --output=${project}/worker-%A_%a.out`,
      `exec ${process.execPath} ${BIN("dask-worker-ts")} --scheduler-file ${file} --interface lo --name w$SLURM_ARRAY_TASK_ID --nthreads 1 --no-nanny`,
    ], project);
    await waitFor("the scheduler job's scheduler file", () => existsSync(file), { timeoutMs: 120_000 });
    const client = await Client.connect({ schedulerFile: file });
    try {
      await client.waitForWorkers(1, { timeout: 120_000 });
      const s = await client.startJupyter({ timeout: 120_000 });
      assert.deepEqual([s.app, s.kernel, s.notebookDir, s.schedulerFile], ["notebook", "tslab", project, file]);
      const env = readFileSync(`/proc/${s.pid}/environ`, "latin1").split("\0");
      assert.ok(env.includes(`SLURM_JOB_ID=${schedulerJob}`), "Jupyter runs in the scheduler's job");
      assert.ok(env.includes(`DASK_SCHEDULER_FILE=${file}`));

      // headless: the example notebook's cells, through the kernel protocol of the co-launched server
      const cells = await runCells(s, "tslab", codeCells(path.join(project, "cluster.ipynb")), project, 180_000);
      const show = `cells: ${JSON.stringify(cells)}`;
      assert.deepEqual(cells.map((c) => c.status), ["ok", "ok", "ok", "ok"], show);
      assert.match(cells[0]!.stdout, /^workers: [1-9]\d*\n$/, show);
      assert.equal(cells[1]!.stdout, "sum of squares: 328350\n", show);
      assert.match(cells[2]!.stdout, /^ran on [1-9]\d* workers\n$/, show);

      // in headless Chromium: the URL with its token, the notebook, its first cell run, the result seen
      const browser = await launchBrowser();
      try {
        const page = await browser.newPage();
        await page.goto(s.url, { timeout: 60_000 });
        assert.equal(page.url(), `${s.baseUrl}tree`, "the token logged the browser in");
        await page.goto(`${s.baseUrl}notebooks/cluster.ipynb`, { timeout: 60_000 });
        await page.waitForFunction(() => {
          const nb = (window as unknown as { Jupyter?: { notebook?: { kernel?: { is_connected(): boolean }; kernel_busy?: boolean } } }).Jupyter?.notebook;
          return nb?.kernel?.is_connected() === true && nb.kernel_busy === false;
        }, null, { timeout: 90_000 });
        const cell = page.locator(".code_cell").first();
        await cell.locator(".CodeMirror").click();
        await page.keyboard.press("Shift+Enter");
        await cell.locator(".output_area").filter({ hasText: /workers: \d+/ }).waitFor({ timeout: 90_000 });
        assert.match((await cell.locator(".output_area").textContent()) ?? "", /workers: [1-9]\d*/);
      } finally {
        await browser.close();
      }

      // a worker job expires (SLURM ends it as at its walltime): the array's next job joins, and the cluster computes on
      execFileSync("scancel", [`${array}_0`]);
      await waitFor("w0 gone and w1 joined", async () => {
        const names = Object.values((await client.schedulerInfo()).workers).map((w) => w.name);
        return names.length === 1 && names[0] === "w1";
      }, { timeoutMs: 120_000 });
      assert.equal(await client.submit((x: number) => x * 2, 21).result(), 42);

      // the server ends with the scheduler
      await client.shutdown();
      await waitFor("the scheduler job and the workers' to end", gone([schedulerJob, array]), { timeoutMs: 60_000 });
      await waitFor("Jupyter, its kernels and every job's process to end", () => taggedPids(tag).length === 0, { timeoutMs: 30_000 });
      await assert.rejects(fetch(s.baseUrl, { signal: AbortSignal.timeout(5000) }));
      const out = readFileSync(path.join(project, `scheduler-${schedulerJob}.out`), "utf8");
      assert.match(out, /"msg":"jupyter server started"/);
      assert.ok(!out.includes(s.token), "the job's output file (readable by others) does not hold the token");
    } finally {
      await client.close();
    }
  });
});
