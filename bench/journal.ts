/**
 * The journal section (issue 16): the 50k-task map with the scheduler's journal on and off,
 * alternating processes (off, on, off, on, ...) so that the machine's load falls on both alike;
 * prints the rate of each, the ratio on/off (target: the journal loses at most 10%) and the
 * journal's bytes per task.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { median, runCase } from "./runner.js";
import { fmt, table } from "./table.js";

type Result = { rate: number; schedulerUsPerTask: number; bytesPerTask?: number };

export async function journalSection(attempt: <T>(what: string, f: () => Promise<T>) => Promise<T | undefined>, runs: number): Promise<void> {
  const off: number[] = [];
  const on: number[] = [];
  const cpuOff: number[] = [];
  const cpuOn: number[] = [];
  const bytes: number[] = [];
  for (let r = 0; r < runs; r++) {
    const a = await attempt("journal off", () => runCase<Result>("journal", 300_000));
    if (a) {
      off.push(a.rate);
      cpuOff.push(a.schedulerUsPerTask);
    }
    const dir = mkdtempSync(path.join(tmpdir(), "dask-mpi-ts-bench-journal-"));
    try {
      const b = await attempt("journal on", () => runCase<Result>("journal", 300_000, { DASK_MPI_TS_DISTRIBUTED__SCHEDULER__JOURNAL__DIRECTORY: dir }));
      if (b) {
        on.push(b.rate);
        cpuOn.push(b.schedulerUsPerTask);
        if (b.bytesPerTask !== undefined) bytes.push(b.bytesPerTask);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`\njournal: the 50k-task map with the scheduler's journal off and on (${tmpdir()}), ${runs} alternating runs each\n`);
  const span = (xs: number[]) => (xs.length ? `${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}` : "");
  const ratio = off.length && on.length ? median(on) / median(off) : undefined;
  console.log(
    table(
      ["journal", "tasks/s", "range", "scheduler CPU us/task", "bytes per task", "on/off"],
      [
        ["off", off.length ? fmt(median(off)) : "failed", span(off), cpuOff.length ? fmt(median(cpuOff)) : "", "", ""],
        [
          "on", on.length ? fmt(median(on)) : "failed", span(on), cpuOn.length ? fmt(median(cpuOn)) : "", bytes.length ? fmt(median(bytes)) : "",
          ratio === undefined ? "" : `x${ratio.toFixed(2)} (>= x0.90: ${ratio >= 0.9 ? "met" : "MISSED"})`,
        ],
      ],
      "l",
    ),
  );
}
