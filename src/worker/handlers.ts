/**
 * The worker's ops: what the scheduler asks of it (compute-task, free-keys, run, replicate-to,
 * restart, restart-process, close-worker, plugin-add, plugin-remove) and what peers and clients ask (get-data, put-data, story). Messages
 * are checked at the edge by their op's parser (protocol/messages-*.ts) and reach the handlers
 * typed; each handler turns its message into a state-machine event or a data-store call, and
 * worker.ts carries out what comes back.
 */
import { type Routes, type Rpc, checkFits, routes, sizedReply } from "../comm/rpc.js";
import { FrameTooLargeError, ProtocolError } from "../errors.js";
import { recentLogs } from "../log.js";
import { type Copy, type Dependency, type Message, str } from "../protocol/messages.js";
import { type GetData, type GetDataReply, workerToWorkerParsers } from "../protocol/messages-peer.js";
import { type ActorCall, toActorParsers } from "../protocol/messages-actor.js";
import { type Run, type SchedulerToWorker, schedulerToWorkerParsers } from "../protocol/messages-worker.js";
import { type PluginResult, type PluginSpec, pluginSpec } from "../protocol/messages-plugins.js";
import { Sent, decodeWithRaws, encodeWithRaws } from "../protocol/msgpack.js";
import { RAW_PART_BYTES } from "../protocol/frames.js";
import { Op } from "../protocol/ops.js";
import { resolveTaskFunction } from "../protocol/functions.js";
import { type DataStore, type Found, type Stored, storedBytes } from "./data-store.js";
import type { WorkerEvent, WorkerState } from "./state-machine.js";

/** What the handlers need of the worker. */
export interface WorkerHost {
  readonly state: WorkerState<Stored>;
  readonly store: DataStore;
  /** Bytes sent to and received from peers and clients. */
  readonly bytes: { sentToPeers: number; receivedFromPeers: number };
  /** task functions by the number the scheduler gave them (sent once per connection) */
  readonly functions: Map<number, unknown>;
  /** a new stimulus id for an event caused by `what` */
  sid(what: string): string;
  /** hand the event to the state machine and carry out its instructions */
  handle(e: WorkerEvent<Stored>): void;
  /** tell the scheduler, if connected */
  sendScheduler(msg: Message): void;
  close(reason: string): Promise<string>;
  /** forget everything and start from fresh task threads */
  restart(): Promise<void>;
  /** close, for the nanny to start a fresh worker process (an error without a nanny) */
  restartProcess(reason: string): void;
  /** hand copies of `keys` to `target`; the keys sent */
  replicateTo(target: string, runs: Record<string, number>): Promise<string[]>;
  /** call an actor living on one of the task threads: its encoded value */
  callActor(call: Omit<ActorCall, "op">): Promise<Uint8Array[]>;
  /** set a worker plugin up on every task thread (now and later): ok, or the first thread's error */
  addPlugin(p: PluginSpec): Promise<PluginResult>;
  /** take a worker plugin down on every task thread (its teardown) */
  removePlugin(name: string): Promise<PluginResult>;
}

/** A task without dependencies: one shared empty list (never changed). */
const NO_DEPS: readonly Dependency[] = Object.freeze([]);

/** The scheduler connection's routes: every op parsed at the edge. */
export function schedulerHandlers(w: WorkerHost): Routes<SchedulerToWorker> {
  return routes({
    parsers: schedulerToWorkerParsers,
    handlers: {
      [Op.computeTask]: (m) => {
        // functions come once per connection, then by number
        if (m.fnDef !== undefined) w.functions.set(m.fn, m.fnDef);
        const fn = w.functions.get(m.fn);
        if (fn === undefined) throw new ProtocolError(`compute-task names function ${m.fn}, which was never sent`);
        const task = { key: m.key, fn, args: m.args, deps: m.deps ?? NO_DEPS, priority: m.priority ?? 0, run: m.run, checkpoint: m.checkpoint };
        w.handle({ type: "compute-task", task }); // numbered by the state machine
      },
      [Op.freeKeys]: (m) => w.handle({ type: "free-keys", keys: m.keys }),
      [Op.closeWorker]: (m) => void w.close(`scheduler asked: ${m.reason ?? ""}`),
      [Op.schedulerClosing]: () => {},
      [Op.run]: (m, rpc) => runHere(m, rpc),
      [Op.replicateTo]: (m) => w.replicateTo(m.target, m.runs),
      [Op.getLogs]: (m) => recentLogs(m.n),
      [Op.restart]: async () => {
        await w.restart();
        return "ok";
      },
      [Op.restartProcess]: () => (w.restartProcess("restart requested (client.restartWorkers)"), "ok" as const),
      [Op.pluginAdd]: (m) => w.addPlugin(pluginSpec(m)),
      [Op.pluginRemove]: (m) => w.removePlugin(m.name),
    },
  });
}

/**
 * The peer listener's routes: get-data and actor-call parsed at the edge. put-data checks its values itself
 * (a malformed value is refused in the reply and the connection goes on serving: see
 * test/integration/put-data.test.ts), and story is a one-field request.
 */
export function peerHandlers(w: WorkerHost): Routes<GetData | ActorCall> {
  return routes({
    parsers: { [Op.getData]: workerToWorkerParsers[Op.getData], [Op.actorCall]: toActorParsers[Op.actorCall] },
    handlers: {
      [Op.getData]: (m, rpc) => getData(w, m, rpc),
      // straight from the client to the actor's thread, as Dask's (not through the scheduler)
      [Op.actorCall]: ({ op: _op, ...call }) => w.callActor(call),
    },
    raw: { [Op.putData]: (m) => putData(w, m), [Op.story]: (m) => w.state.story(str(m, "key")) },
  });
}

function getData(w: WorkerHost, m: GetData, rpc: Rpc): GetDataReply | Promise<GetDataReply> {
  const reply = (found: Found): GetDataReply => {
    let total = 0;
    const keys: string[] = [];
    const values: Stored[] = [];
    for (const [k, v] of found.data) {
      keys.push(k);
      values.push(v);
      total += storedBytes(v);
    }
    // refused here, with its size and the asker's cap (4 GiB - 1 at most), rather than sent to
    // close the connection (the asker's cap) or failing to be written (a frame's): the asker
    // then asks key by key, and a value over the cap alone errs its task, naming it
    if (total > rpc.comm.share) {
      throw new FrameTooLargeError(total, rpc.comm.peerMaxFrameBytes, `${keys.length === 1 ? `the value of ${JSON.stringify(keys[0])} is` : `${keys.length} values asked together are`} ${total} bytes, over the largest frame the asker takes (${rpc.comm.peerMaxFrameBytes} bytes)`);
    }
    w.bytes.sentToPeers += total;
    return sizedReply({ keys, values, missing: found.missing }, total);
  };
  const found = w.store.values(m.keys);
  return found instanceof Promise ? found.then(reply) : reply(found);
}

/** put-data: each value checked here, so a malformed one is refused by name and nothing of it is stored. */
function putData(w: WorkerHost, m: Message): { nbytes: Record<string, number> } {
  const data = m.data as Record<string, Stored>;
  if (typeof data !== "object" || data === null) throw new ProtocolError("put-data: data must be a map");
  const keys = Object.keys(data);
  const nbytes: Record<string, number> = {};
  const runs = m.runs as Record<string, number> | undefined;
  const stimulusId = w.sid("put-data");
  for (const key of keys) {
    const value = data[key]!;
    if (!Array.isArray(value) || !value.every((p) => p instanceof Uint8Array)) {
      throw new ProtocolError(`put-data: the value of ${JSON.stringify(key)} must be a list of byte parts, got ${describe(value)}`);
    }
    if (runs && runs[key] === undefined) throw new ProtocolError(`put-data: runs names no number for ${JSON.stringify(key)}`);
  }
  for (const key of keys) {
    const value = data[key]!;
    nbytes[key] = storedBytes(value);
    w.bytes.receivedFromPeers += nbytes[key]!;
    // a task this makes runnable starts now
    w.handle({ type: "put-data", stimulusId, key, nbytes: nbytes[key]!, value, run: runs?.[key] });
  }
  // replication: the scheduler learns of the new copies from us, with their values' numbers
  // (a copy the state machine did not keep, of another value than the one wanted here, is not told)
  const kept = runs ? keys.filter((k) => w.state.heldRun.get(k) === runs[k]) : [];
  if (kept.length) w.sendScheduler({ op: Op.addReplica, copies: kept.map((k): Copy => [k, runs![k]!]) });
  return { nbytes };
}

function describe(v: unknown): string {
  return Array.isArray(v) ? `a list of ${[...new Set(v.map((p) => (p instanceof Uint8Array ? "bytes" : typeof p)))].join(", ")}` : v === null ? "null" : typeof v;
}

/** client.run(): a function on this worker's main thread, with its arguments. */
async function runHere(m: Run, rpc: Rpc): Promise<Buffer[]> {
  const fn = await resolveTaskFunction(m.fn);
  const parts = m.args;
  const args = decodeWithRaws(parts[0]!, parts.slice(1)) as unknown[];
  const value = await fn(...args);
  const { head, raws } = encodeWithRaws(value, RAW_PART_BYTES, Sent.result);
  const out = [head, ...raws.map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength))];
  // over the scheduler's frame cap the reply would close this worker's connection to it
  checkFits(out, rpc.comm, "the result of run", "the scheduler", "return less (a summary, or the path of a file holding the data)");
  return out;
}
