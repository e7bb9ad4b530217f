/**
 * run() and runOnScheduler(): a function called on every worker's main thread, or in the
 * scheduler's process, its arguments encoded here and checked against the scheduler's frame
 * share, its results or error decoded here.
 */
import { type Comm } from "../comm/types.js";
import { RemoteError, checkFits } from "../comm/rpc.js";
import { RemoteTaskError } from "../errors.js";
import { RAW_PART_BYTES } from "../protocol/frames.js";
import type { WireFunction } from "../protocol/functions.js";
import type { Message } from "../protocol/messages.js";
import { Sent, copyRaws, decodeWithRaws, encodeWithRaws } from "../protocol/msgpack.js";
import { Op, type WireError } from "../protocol/ops.js";
import { RUN_OPTION_KEYS, splitTrailingOptions } from "./arguments.js";
import { type RunOptions, checkWorkerList } from "./submit-options.js";
import { checkFinite, checkTimeout } from "./timeout.js";

/** What run and runOnScheduler need of the client. */
export interface RunHost {
  checkOpen(): void;
  request<T>(msg: Message, timeoutMs: number): Promise<T>;
  /** the function's wire form (sent once per message) */
  wire(fn: unknown): WireFunction;
  /** the scheduler connection, for its frame share */
  scheduler(): Pick<Comm, "share" | "peerMaxFrameBytes">;
}

/** A worker's call may take this long by default (`options.timeout`). */
const RUN_TIMEOUT_MS = 60_000;
/** The scheduler's process may take this long. */
const RUN_ON_SCHEDULER_TIMEOUT_MS = 300_000;

export async function runOnWorkers<R>(c: RunHost, fn: (...args: never[]) => R | Promise<R>, rest: unknown[]): Promise<Record<string, Awaited<R>>> {
  c.checkOpen();
  const { args, options: opts } = splitTrailingOptions<RunOptions>("run", rest, fn.length, RUN_OPTION_KEYS);
  checkWorkerList("run's workers option", opts.workers);
  checkTimeout("run", opts.timeout);
  checkFinite("run", opts.timeout, "the workers' calls are bounded");
  const { head, raws: views } = encodeWithRaws(args, RAW_PART_BYTES, Sent.arguments);
  const raws = copyRaws(views);
  checkFits([head, ...raws], c.scheduler(), "run's arguments", "the scheduler", "split the data, or raise max-frame-size on the scheduler and the workers");
  const timeout = opts.timeout ?? RUN_TIMEOUT_MS;
  const replies = await c.request<Record<string, { ok: boolean; value?: Buffer[]; error?: WireError }>>(
    { op: Op.broadcast, fn: c.wire(fn), args: [head, ...raws], workers: opts.workers, timeout },
    timeout + 5000,
  );
  const out: Record<string, Awaited<R>> = {};
  for (const [addr, r] of Object.entries(replies)) {
    if (!r.ok) throw new RemoteTaskError(`run on ${addr}`, r.error!);
    out[addr] = decodeWithRaws(r.value![0]!, r.value!.slice(1)) as Awaited<R>;
  }
  return out;
}

export async function runOnScheduler<R>(c: RunHost, fn: (...args: never[]) => R | Promise<R>, args: unknown[]): Promise<Awaited<R>> {
  c.checkOpen();
  const { head, raws: views } = encodeWithRaws(args, RAW_PART_BYTES, Sent.schedulerArguments);
  const raws = copyRaws(views);
  checkFits([head, ...raws], c.scheduler(), "runOnScheduler's arguments", "the scheduler", "split the data, or raise the scheduler's max-frame-size");
  try {
    const parts = await c.request<Buffer[]>({ op: Op.runOnScheduler, fn: c.wire(fn), args: [head, ...raws] }, RUN_ON_SCHEDULER_TIMEOUT_MS);
    return decodeWithRaws(parts[0]!, parts.slice(1)) as Awaited<R>;
  } catch (err) {
    if (err instanceof RemoteError) throw new RemoteTaskError("run-on-scheduler", err.remote);
    throw err;
  }
}
