/**
 * A one-line terminal progress bar for a set of futures. Hand-written rather than a
 * dependency: it is one line of text redrawn with "\r", and the rule that matters here
 * (write nothing at all unless the stream is a terminal, so batch logs stay clean) is ours.
 */
import type { Future } from "./future.js";
import { asCompleted } from "./wait.js";

export interface ProgressOptions {
  /** Where to draw; default process.stderr. Nothing is written unless it is a TTY. Its width (`columns`) defaults to 80. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Redraw period in ms (the elapsed time and rate move on between completions); default 200. */
  interval?: number;
}

/**
 * Draw done/total, percent, elapsed time and rate until every future is done (finished,
 * erred or cancelled), then end the line. Resolves when all are done; never rejects for a
 * failed task (look at the futures).
 * @example
 * const fs = client.map(simulate, params);
 * await progress(fs);   // [##########----------] 512/1024  50% | 12.3 s | 41.6/s
 */
export async function progress(futures: Iterable<Future<unknown>>, options: ProgressOptions = {}): Promise<void> {
  const stream = options.stream ?? process.stderr;
  const fs = [...futures];
  const tty = stream.isTTY === true;
  const start = Date.now();
  let done = 0;
  let erred = 0;
  const draw = () => stream.write(`\r${progressLine(done, fs.length, Date.now() - start, erred, stream.columns || 80)}\x1b[K`);
  const timer = tty ? setInterval(draw, options.interval ?? 200) : undefined;
  timer?.unref();
  try {
    if (tty) draw();
    for await (const f of asCompleted(fs)) {
      done++;
      if (f.status === "error") erred++;
      if (tty && done === fs.length) draw();
    }
    if (tty) stream.write("\n");
  } finally {
    clearInterval(timer);
  }
}

/**
 * The text of the bar, fitted to `columns`.
 * @example progressLine(5, 10, 2000) // "[####################--------------------]  5/10  50% | 2.0 s | 2.5/s"
 */
export function progressLine(done: number, total: number, elapsedMs: number, erred = 0, columns = 80): string {
  const fraction = total === 0 ? 1 : done / total;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const seconds = elapsedMs / 1000;
  const rate = seconds > 0 ? `${(done / seconds).toFixed(1)}/s` : "-/s";
  const count = `${String(done).padStart(String(total).length)}/${total}`;
  const tail = ` ${count} ${percent} | ${formatDuration(seconds)} | ${rate}${erred ? ` | ${erred} erred` : ""}`;
  const width = Math.max(0, Math.min(40, columns - tail.length - 3));
  if (width < 5) return tail.trimStart();
  const filled = Math.round(fraction * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]${tail}`;
}

function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.floor(seconds);
  const hms = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60];
  return (hms[0] ? hms : hms.slice(1)).map((n, i) => (i ? String(n).padStart(2, "0") : String(n))).join(":");
}
