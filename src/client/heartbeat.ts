/**
 * The client's heartbeat with its scheduler, so that a hung scheduler (stopped, deadlocked, or
 * behind a network that drops packets without a reset) is noticed, not only a closed connection.
 * Every `heartbeatInterval` the client sends a heartbeat the scheduler answers; anything the
 * scheduler sends (that answer, a result, any reply) counts as a sign of life, so a scheduler
 * busy talking is never taken for dead. After `heartbeatTimeout` of silence it is lost.
 *
 * Invariant: only silence this process was awake to hear counts. A tick that comes late because
 * the client itself was blocked (a long GC pause, a synchronous loop, a starved machine) adds at
 * most two intervals: the scheduler's messages may be waiting unread in the socket, and after a
 * blocked turn of Node's event loop the timers run before those reads are taken.
 */

/** Default interval (ms) between heartbeats, as Dask's `distributed.client.heartbeat`. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;
/**
 * Default silence (ms) after which the scheduler is lost: twice the silence after which a
 * worker gives up on it, so a scheduler briefly blocked by a big graph or a loaded node is not.
 */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 30_000;

export interface HeartbeatSettings {
  intervalMs: number;
  /** Infinity: never give up on a silent scheduler (a closed connection is still noticed). */
  timeoutMs: number;
}

export function checkHeartbeat(interval: unknown, timeout: unknown): HeartbeatSettings {
  const intervalMs = interval ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  if (typeof intervalMs !== "number" || !Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new TypeError(`heartbeatInterval must be a number of milliseconds > 0, got ${show(interval)}`);
  }
  const timeoutMs = timeout ?? Math.max(DEFAULT_HEARTBEAT_TIMEOUT_MS, 6 * intervalMs);
  if (typeof timeoutMs !== "number" || Number.isNaN(timeoutMs) || timeoutMs <= intervalMs) {
    throw new TypeError(`heartbeatTimeout must be a number of milliseconds greater than heartbeatInterval (${intervalMs}), or Infinity, got ${show(timeout)}`);
  }
  return { intervalMs, timeoutMs };
}

const show = (v: unknown): string => (typeof v === "number" ? String(v) : JSON.stringify(v));

/** Pure: how long the scheduler has been silent, as far as this process could hear. */
export class SilenceMeter {
  #reads: number;
  #lastTick: number;
  #silentMs = 0;

  constructor(
    readonly settings: HeartbeatSettings,
    reads: number,
    now: number,
  ) {
    this.#reads = reads;
    this.#lastTick = now;
  }

  /** One tick: `reads` is the connection's read counter, `now` a monotonic time (ms). Returns the silence. */
  tick(reads: number, now: number): number {
    const heard = Math.min(Math.max(0, now - this.#lastTick), 2 * this.settings.intervalMs);
    this.#lastTick = now;
    if (reads !== this.#reads) {
      this.#reads = reads;
      this.#silentMs = 0;
    } else {
      this.#silentMs += heard;
    }
    return this.#silentMs;
  }
}

/**
 * Tick every interval: send a heartbeat, or call `missed` (once) with the reason when the
 * silence reached the timeout. The timer is unref'd: it never keeps a finished program alive.
 * Returns the function that stops it.
 */
export function startHeartbeat(settings: HeartbeatSettings, io: { reads: () => number; send: () => void; missed: (reason: string) => void }): () => void {
  const meter = new SilenceMeter(settings, io.reads(), performance.now());
  const timer = setInterval(() => {
    const silentMs = meter.tick(io.reads(), performance.now());
    if (silentMs < settings.timeoutMs) return io.send();
    clearInterval(timer);
    io.missed(
      `heartbeat missed: no message from the scheduler for ${Math.round(silentMs)} ms (heartbeatTimeout ${settings.timeoutMs} ms); ` +
        `it may be hung or stopped, or the network drops its packets`,
    );
  }, settings.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
