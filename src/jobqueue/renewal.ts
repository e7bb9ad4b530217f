/**
 * Replacing jobs before they end, pure. A job's workers report when they will retire (their
 * job's walltime minus a margin, or a lifetime); the cluster (cluster.ts) submits a replacement
 * a lead time before that, so that capacity does not dip while the old job's workers leave. The
 * lead time is learnt: each job's queue wait, from its submission to the last of its workers
 * joining, is recorded; the lead is twice the longest recent wait, at least 10 s (queue waits
 * vary: a replacement that comes late leaves a dip, one that comes early costs an overlap).
 *
 * A job is *expiring* once its retirement is within the lead time: from then on it no longer
 * counts towards the jobs scale() and adapt() plan, so they submit its replacement (if the
 * capacity is still wanted); it leaves on its own when its workers retire.
 */

/** A worker of a job, as the scheduler knows it. */
export interface WorkerSeen {
  /** when it registered, ms since the epoch */
  joinedAt: number;
  /** when it will retire, ms since the epoch; undefined: no planned end */
  retiresAt?: number;
}

/** Waits remembered, the lead as a multiple of the longest of them, and the least lead. */
export const LEAD = { samples: 10, factor: 2, minMs: 10_000 } as const;

interface Track {
  submittedAt: number;
  /** its worker processes (the job has started once that many joined) */
  processes: number;
  /** some worker of it joined */
  ran: boolean;
  /** its queue wait was recorded */
  counted: boolean;
  expiring: boolean;
}

export class Renewal {
  #jobs = new Map<string, Track>();
  #waits: number[] = [];

  /** The recent queue waits (ms), oldest first. */
  get waits(): readonly number[] {
    return this.#waits;
  }

  /** A job was submitted at `now`, to run `processes` workers. */
  submitted(id: string, now: number, processes: number): void {
    this.#jobs.set(id, { submittedAt: now, processes, ran: false, counted: false, expiring: false });
  }

  /**
   * How long before a job's retirement its replacement is submitted: LEAD.factor times the
   * longest recent queue wait (at least LEAD.minMs), plus `checkEveryMs`, the time between two
   * looks (a retirement may come due just after one).
   * @example new Renewal().leadMs(1000) // 11_000 before any wait was seen
   */
  leadMs(checkEveryMs: number): number {
    const longest = this.#waits.length ? Math.max(...this.#waits) : 0;
    return Math.max(LEAD.minMs, LEAD.factor * longest) + checkEveryMs;
  }

  /**
   * A look at the jobs' workers (by job id): records the queue wait of each job whose workers
   * have all joined, and returns the jobs that now retire within the lead time (each once).
   */
  observe(workersByJob: ReadonlyMap<string, readonly WorkerSeen[]>, now: number, checkEveryMs: number): string[] {
    for (const [id, workers] of workersByJob) {
      const t = this.#jobs.get(id);
      if (!t || workers.length === 0) continue;
      t.ran = true;
      if (!t.counted && workers.length >= t.processes) {
        t.counted = true;
        this.#waits.push(Math.max(0, Math.max(...workers.map((w) => w.joinedAt)) - t.submittedAt));
        if (this.#waits.length > LEAD.samples) this.#waits.shift();
      }
    }
    const lead = this.leadMs(checkEveryMs);
    const due: string[] = [];
    for (const [id, workers] of workersByJob) {
      const t = this.#jobs.get(id);
      if (!t || t.expiring) continue;
      const ends = workers.filter((w) => w.retiresAt !== undefined).map((w) => w.retiresAt!);
      if (ends.length && Math.min(...ends) - now <= lead) {
        t.expiring = true;
        due.push(id);
      }
    }
    return due;
  }

  /** Whether the job retires within the lead time (it counts no more). */
  expiring(id: string): boolean {
    return this.#jobs.get(id)?.expiring ?? false;
  }

  /** The job left the queue: whether any of its workers had joined (undefined for a job never submitted here). Forgets it. */
  left(id: string): boolean | undefined {
    const t = this.#jobs.get(id);
    this.#jobs.delete(id);
    return t?.ran;
  }
}
