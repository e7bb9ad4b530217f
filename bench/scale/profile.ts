/**
 * What bounds a figure: the functions a V8 CPU profile (`node --cpu-prof`) spent its busy
 * samples in, by self time, so the scale section can name where the scheduler's time goes.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  startTime: number;
  endTime: number;
}

export interface Hot {
  /** function, file:line */
  where: string;
  /** share of the busy (non-idle) samples */
  percent: number;
}

/** The `k` functions with the most self time, and the busy time in ms. */
export function hottest(file: string, k = 8): { busyMs: number; top: Hot[] } {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const msPerSample = (p.endTime - p.startTime) / 1000 / Math.max(1, p.samples.length);
  const self = new Map<string, number>();
  let busy = 0;
  for (const n of p.nodes) {
    const hits = n.hitCount ?? 0;
    if (!hits || n.callFrame.functionName === "(idle)") continue;
    const f = n.callFrame;
    const where = `${f.functionName || "(anonymous)"} ${f.url ? `${path.basename(f.url)}:${f.lineNumber + 1}` : ""}`.trim();
    self.set(where, (self.get(where) ?? 0) + hits);
    busy += hits;
  }
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(([where, hits]) => ({ where, percent: (100 * hits) / Math.max(1, busy) }));
  return { busyMs: busy * msPerSample, top };
}
