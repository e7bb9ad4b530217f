/**
 * Client.connect's target: an address, a scheduler file or a cluster object, with options,
 * turned into where to connect, and retried until the deadline while the scheduler (or its
 * file) is not there yet.
 */
import { DEFAULT_COMM } from "../comm/connect.js";
import { readSchedulerFile } from "../comm/scheduler-file.js";
import { MAX_FRAME_LIMIT } from "../protocol/frames.js";
import { type TlsContext, type TlsFiles, loadTls } from "../comm/tls.js";
import { CommClosedError, ConfigError, HandshakeError, TimeoutError, describeError } from "../errors.js";
import { type HeartbeatSettings, checkHeartbeat } from "./heartbeat.js";
import { checkReconnectTimeout } from "./scheduler-lost.js";
import type { ConnectOptions, ConnectTarget } from "./submit-options.js";

/** Where and how to connect, once the target is read (the scheduler file each attempt). */
export interface ConnectPlan {
  tls: TlsContext | undefined;
  /** the largest frame the client takes (ConnectOptions.maxFrameSize) */
  maxFrameBytes: number;
  reconnectMs: number;
  heartbeat: HeartbeatSettings;
  /** Where the scheduler is now: the scheduler file is read again each time (reconnecting). */
  where: () => { address: string; secret: string };
}

/**
 * Check the options, then call `open(address, secret, msLeft)` until it succeeds or the
 * timeout (default 30 s) passes. A wrong secret or certificate is not retried.
 */
export async function connectTo<C>(target: ConnectTarget, options: ConnectOptions, open: (address: string, secret: string, msLeft: number, plan: ConnectPlan) => Promise<C>): Promise<C> {
  const opts: Record<string, unknown> =
    typeof target === "string" ? { ...options, address: target } : "schedulerAddress" in target ? { ...options, address: target.schedulerAddress, secret: target.secret } : { ...options, ...target };
  const timeout = (opts.timeout as number | undefined) ?? 30_000;
  const where = (): { address: string; secret: string } => {
    let address: string;
    let secret = (opts.secret as string | undefined) ?? process.env.DASK_MPI_TS_SECRET;
    if (typeof opts.schedulerFile === "string") {
      const content = readSchedulerFile(opts.schedulerFile);
      if (!content) throw new CommClosedError(`scheduler file ${opts.schedulerFile} does not exist yet`);
      address = content.address;
      secret = (opts.secret as string | undefined) ?? content.secret;
    } else {
      address = opts.address as string;
    }
    if (!secret) throw new ConfigError("no cluster secret: pass { secret }, use a scheduler file, or set DASK_MPI_TS_SECRET");
    return { address, secret };
  };
  const plan: ConnectPlan = {
    tls: opts.tls ? loadTls(opts.tls as TlsFiles) : undefined,
    maxFrameBytes: checkMaxFrameSize(opts.maxFrameSize),
    reconnectMs: checkReconnectTimeout(opts.reconnectTimeout),
    heartbeat: checkHeartbeat(opts.heartbeatInterval, opts.heartbeatTimeout),
    where,
  };
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  do {
    try {
      const { address, secret } = where();
      return await open(address, secret, Math.max(1, deadline - Date.now()), plan);
    } catch (err) {
      // a wrong secret or certificate does not get better by waiting
      if (err instanceof ConfigError || err instanceof HandshakeError) throw err;
      lastError = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  } while (Date.now() < deadline);
  throw new TimeoutError(`could not connect to the scheduler within ${timeout} ms: ${describeError(lastError)}`, { cause: lastError });
}

/** ConnectOptions.maxFrameSize: bytes, default DEFAULT_COMM's (512 MiB), at most what a frame header holds. */
function checkMaxFrameSize(v: unknown): number {
  if (v === undefined) return DEFAULT_COMM.maxFrameBytes;
  if (!(Number.isInteger(v) && (v as number) >= 64 * 1024 && (v as number) <= MAX_FRAME_LIMIT)) {
    throw new TypeError(`maxFrameSize must be a whole number of bytes from 65536 to ${MAX_FRAME_LIMIT}, got ${typeof v === "number" ? v : JSON.stringify(v)}`);
  }
  return v as number;
}
