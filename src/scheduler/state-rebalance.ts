/**
 * Rebalance's plan, pure (no I/O): which values to move from which worker to which so that the
 * bytes the workers store even out, in Dask's manner: senders are the workers above the mean
 * (by more than the tolerance), recipients those below it; each sender's largest values go
 * first, each to the recipient furthest below the mean that does not hold it yet, as long as
 * neither side crosses the mean by more than the tolerance. Every move narrows the gap between
 * two workers, so the plan ends.
 */

export interface RebalanceWorker {
  address: string;
  /** bytes it stores now */
  nbytes: number;
  /** the values it may give away, with where each is held */
  keys: ReadonlyArray<{ key: string; nbytes: number; holders: ReadonlySet<string> }>;
}

export interface Move {
  key: string;
  from: string;
  to: string;
  nbytes: number;
}

/** `tolerance`: a fraction of the mean within which a worker counts as balanced. */
export function planRebalance(workers: readonly RebalanceWorker[], tolerance = 0.05): Move[] {
  if (workers.length < 2) return [];
  const bytes = new Map(workers.map((w) => [w.address, w.nbytes]));
  const mean = workers.reduce((a, w) => a + w.nbytes, 0) / workers.length;
  const slack = mean * tolerance;
  const held = new Map<string, Set<string>>();
  for (const w of workers) for (const k of w.keys) if (!held.has(k.key)) held.set(k.key, new Set(k.holders));
  const of = (a: string) => bytes.get(a)!;
  const moves: Move[] = [];
  const senders = workers.filter((w) => of(w.address) > mean + slack).sort((a, b) => of(b.address) - of(a.address));
  for (const s of senders) {
    for (const k of [...s.keys].sort((a, b) => b.nbytes - a.nbytes)) {
      if (of(s.address) <= mean + slack) break;
      const holders = held.get(k.key)!;
      if (!holders.has(s.address)) continue;
      let to: string | undefined;
      for (const w of workers) {
        const a = w.address;
        if (a === s.address || holders.has(a) || of(a) >= mean - slack) continue;
        if (to === undefined || of(a) < of(to)) to = a;
      }
      if (to === undefined) break; // no recipient left below the mean
      // neither side may cross the mean by more than the tolerance
      if (of(to) + k.nbytes > mean + slack || of(s.address) - k.nbytes < mean - slack) continue;
      moves.push({ key: k.key, from: s.address, to, nbytes: k.nbytes });
      bytes.set(s.address, of(s.address) - k.nbytes);
      bytes.set(to, of(to) + k.nbytes);
      holders.delete(s.address);
      holders.add(to);
    }
  }
  return moves;
}
