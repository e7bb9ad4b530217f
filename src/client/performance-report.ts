/**
 * performanceReport (Dask's performance_report): the task stream of a callback's span, written
 * as one self-contained HTML file (client/report-html.ts, loaded on first use).
 */
import { writeFile } from "node:fs/promises";
import type { Client } from "./client.js";
import { getClient } from "./default.js";
import { type StreamHost, getTaskStream, taskStreamMark } from "./task-stream.js";

/**
 * Run `fn`, then write to `filename` one self-contained HTML file (no network access needed to
 * view it) with the task stream of its span (the tasks that finished or erred while `fn` ran,
 * told by the stream's count, not by clocks: a timeline per worker thread), per-group timings
 * and transfer bandwidth, as Dask's `performance_report`. The file is written even when `fn`
 * throws (then its error is rethrown). Uses the default client unless `options.client` is given.
 * @example await performanceReport("report.html", async () => client.gather(client.map(f, xs)), { client });
 */
export async function performanceReport<R>(filename: string, fn: () => R | Promise<R>, options: { client?: Client } = {}): Promise<R> {
  if (typeof filename !== "string" || filename === "") throw new TypeError(`performanceReport needs a file name, got ${JSON.stringify(filename)}`);
  if (typeof fn !== "function") throw new TypeError(`performanceReport needs a function to run, got ${typeof fn}`);
  const client = options.client ?? getClient();
  const host = client as unknown as StreamHost;
  // the span is told by the stream's own count, not by clocks (workers' and ours may differ)
  const mark = await taskStreamMark(host);
  const start = Date.now();
  let outcome: { ok: true; value: R } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await fn() };
  } catch (error) {
    outcome = { ok: false, error };
  }
  const stop = Date.now();
  const records = await getTaskStream(host, { after: mark });
  const { renderReport } = await import("./report-html.js");
  await writeFile(filename, renderReport({ records, start, stop, scheduler: client.schedulerAddress }));
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}
