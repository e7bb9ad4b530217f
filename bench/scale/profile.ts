/**
 * What bounds a figure: the functions a V8 CPU profile (`node --cpu-prof`) spent its busy
 * samples in, by self time (and by file), so the scale section can name where the scheduler's
 * time goes. Lines are those of the compiled files in dist/.
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

export interface Profile {
  busyMs: number;
  /** the `k` functions with the most self time */
  top: Hot[];
  /** the `k` files with the most self time */
  files: Hot[];
  /** every file's share of the busy samples, percent */
  fileShare: Record<string, number>;
}

export function hottest(file: string, k = 8): Profile {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const msPerSample = (p.endTime - p.startTime) / 1000 / Math.max(1, p.samples.length);
  const self = new Map<string, number>();
  const byFile = new Map<string, number>();
  let busy = 0;
  for (const n of p.nodes) {
    const hits = n.hitCount ?? 0;
    if (!hits || n.callFrame.functionName === "(idle)") continue;
    const f = n.callFrame;
    const where = `${f.functionName || "(anonymous)"} ${f.url ? `${path.basename(f.url)}:${f.lineNumber + 1}` : ""}`.trim();
    self.set(where, (self.get(where) ?? 0) + hits);
    const file = f.url ? path.basename(f.url) : f.functionName;
    byFile.set(file, (byFile.get(file) ?? 0) + hits);
    busy += hits;
  }
  const rank = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([where, hits]) => ({ where, percent: (100 * hits) / Math.max(1, busy) }));
  const fileShare = Object.fromEntries([...byFile].map(([f, hits]) => [f, (100 * hits) / Math.max(1, busy)]));
  return { busyMs: busy * msPerSample, top: rank(self), files: rank(byFile), fileShare };
}
