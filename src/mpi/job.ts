/**
 * One rank's view of an MPI-launched cluster: bootstrap (broadcast of the scheduler's address
 * and secret from the scheduler's rank, 0 unless told otherwise, then a barrier) and the end protocol that makes mpirun return with
 * an exit code that tells the truth.
 *
 * End protocol. In modes with a client rank (rank 1 unless told otherwise, runs the user's
 * program) every other rank keeps one broadcast rooted at the client rank outstanding from the
 * start; the client rank completes it with
 * its exit status when its program ends, however it ends (normal end, process.exit, uncaught
 * error) — synchronously, from its 'exit' handler. Then:
 * - status 0: all ranks meet in a barrier (bounded) and call MPI_Finalize; mpirun exits 0;
 * - status n: ranks clean up and MPI_Abort(n), the one way both launchers report n.
 * A rank that fails by itself aborts with its own status. Every wait has a deadline, past which
 * the rank aborts, so mpirun always returns.
 */
import { exitOnSignals } from "../deploy/signals.js";
import { TimeoutError, describeError } from "../errors.js";
import { logger } from "../log.js";
import { Mpi, type MpiRequest } from "./addon.js";

export interface BootstrapRecord {
  address: string;
  secret: string;
  error?: string;
}

const END_BARRIER_TIMEOUT_MS = 15_000;
/** The bootstrap record is small (address, secret, maybe an error); a small frame is fast. */
const BOOTSTRAP_MAX_BYTES = 16 * 1024;
/** The end signal: a 4-byte status on the private signal communicator. */
const SIGNAL = { maxBytes: 4, channel: "signal" } as const;
const END_POLL_MS = 20;
const log = () => logger("mpi");

export class MpiJob {
  readonly mpi: Mpi;
  readonly rank: number;
  readonly size: number;
  /** Rank that runs the user's program, if any. */
  readonly clientRank: number | undefined;
  /** Rank of the scheduler: the root of the bootstrap broadcast. */
  readonly schedulerRank: number;
  #endSignal: MpiRequest | undefined;
  #clientEnded: Promise<number> | undefined;
  #ending = false;
  /** Synchronous clean-up to run before this rank leaves (kill children, remove files). */
  #cleanups: Array<() => void> = [];

  constructor(mpi: Mpi, clientRank: number | undefined, schedulerRank = 0) {
    this.mpi = mpi;
    this.rank = mpi.rank;
    this.size = mpi.size;
    this.clientRank = clientRank;
    this.schedulerRank = schedulerRank;
  }

  onCleanup(fn: () => void): void {
    this.#cleanups.push(fn);
  }

  /** The scheduler's rank provides the record; everyone gets it. Then a barrier, then roles start. */
  async bootstrap(provide: () => Promise<BootstrapRecord>): Promise<BootstrapRecord> {
    let record: BootstrapRecord | undefined;
    let payload: Buffer | null = null;
    if (this.rank === this.schedulerRank) {
      try {
        record = await provide();
      } catch (err) {
        record = { address: "", secret: "", error: describeError(err) };
      }
      payload = Buffer.from(JSON.stringify(record));
    }
    if (payload && payload.length > BOOTSTRAP_MAX_BYTES) {
      payload = Buffer.from(JSON.stringify({ address: "", secret: "", error: `bootstrap record too large (${payload.length} bytes)` }));
    }
    const bytes = await this.mpi.bcast(payload, this.schedulerRank, { timeoutMs: 120_000, maxBytes: BOOTSTRAP_MAX_BYTES });
    record = JSON.parse(bytes.toString("utf8")) as BootstrapRecord;
    if (record.error) return record;
    await this.mpi.barrier({ timeoutMs: 120_000 });
    if (this.clientRank !== undefined && this.rank !== this.clientRank) {
      this.#endSignal = this.mpi.startBcast(null, this.clientRank, SIGNAL);
    }
    return record;
  }

  /** Resolves with the client rank's exit status once its program has ended (0 without one). */
  clientEnded(): Promise<number> {
    // one poller however many wait (the role and the exit path both do)
    this.#clientEnded ??= new Promise((resolve) => {
      const req = this.#endSignal;
      if (!req) return resolve(0);
      const poll = () => {
        const got = req.test();
        if (got) resolve(decodeStatus(got));
        else setTimeout(poll, END_POLL_MS);
      };
      poll();
    });
    return this.#clientEnded;
  }

  /**
   * What a role on this rank waits for besides its own end: the client rank's exit status, or
   * never (no client rank, or this is the client rank: its roles end with its process).
   */
  untilClientEnds(): Promise<number> {
    return this.clientRank === undefined || this.rank === this.clientRank ? new Promise<number>(() => {}) : this.clientEnded();
  }

  /**
   * Install the exit hook: from now on, whenever this process exits, run the end protocol.
   * On the client rank it announces the exit status; elsewhere it waits for that status.
   */
  installExitHook(): void {
    process.on("exit", (code) => this.endSync(code));
    // Node may print an uncaught error only after 'exit' handlers ran, and this one can end in
    // MPI_Abort: say what failed first, or it is never seen
    process.on("uncaughtExceptionMonitor", (err) => {
      process.stderr.write(`dask-mpi-ts: uncaught error on rank ${this.rank}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    });
    exitOnSignals(() => {
      // mpirun is ending the job: clean up what would outlive us, skip MPI, go
      this.#ending = true;
      this.#runCleanups();
    }, ["SIGINT", "SIGTERM"]);
  }

  /** The end protocol, synchronous: safe in an 'exit' handler. Never returns on abort. */
  endSync(exitCode: number): void {
    if (this.#ending || this.mpi.finalized) return;
    this.#ending = true;
    // as the process's status reads: its low 8 bits (process.exit(-1) is 255)
    const code = exitCode & 0xff;
    this.#runCleanups();
    let status = code;
    try {
      if (this.rank === this.clientRank) {
        const req = this.mpi.startBcast(encodeStatus(code), this.rank, SIGNAL);
        if (!req.waitSync(END_BARRIER_TIMEOUT_MS)) throw new TimeoutError("announcing the exit status timed out");
      } else if (this.#endSignal) {
        const got = this.#endSignal.done || code === 0 ? this.#endSignal.waitSync(END_BARRIER_TIMEOUT_MS) : undefined;
        // a failure of this rank's own (not the client's status) ends the job at once
        if (!got) this.mpi.abort(code || 1);
        status = decodeStatus(got);
      } else if (code !== 0) {
        this.mpi.abort(code);
      }
      // the job's status is known to all: meet, so every rank has cleaned up (and its output
      // has drained) before anyone aborts or finalizes
      const met = this.mpi.startBarrier().waitSync(END_BARRIER_TIMEOUT_MS) !== undefined;
      if (status !== 0) this.mpi.abort(status);
      if (!met) throw new TimeoutError(`not every rank reached the final barrier within ${END_BARRIER_TIMEOUT_MS} ms`);
      this.mpi.finalize();
    } catch (err) {
      log().error({ err: describeError(err), reason: "end protocol failed" }, "aborting the MPI job");
      this.mpi.abort(status || 1);
    }
  }

  /**
   * Leave on a failure every rank learnt alike (the bootstrap's error): each rank says it, and
   * all leave together through MPI_Finalize with status 1. MPI_Abort here would let the
   * launcher kill the ranks before their message was forwarded (hydra does, under load).
   */
  leaveTogether(message: string): never {
    process.stderr.write(`dask-mpi-ts: error: ${message}\n`);
    this.#ending = true;
    this.#runCleanups();
    if (this.mpi.startBarrier().waitSync(END_BARRIER_TIMEOUT_MS) === undefined) this.mpi.abort(1);
    this.mpi.finalize();
    process.exit(1);
  }

  #runCleanups(): void {
    for (const fn of this.#cleanups.splice(0)) {
      try {
        fn();
      } catch {
        // best effort: the process is leaving
      }
    }
  }
}

function encodeStatus(code: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(code | 0, 0);
  return b;
}

function decodeStatus(b: Buffer): number {
  return b.length >= 4 ? b.readInt32LE(0) : 1;
}
