/**
 * The inproc:// backend: connections between roles in one process, without sockets. Each
 * connection is a pair of FramedComms whose Wires hand each other the *encoded* frames, so a
 * message goes through the same codec, frame cap and handshake as over tcp:// (values arrive
 * as copies, never as the sender's memory), and code cannot tell the difference.
 *
 * Like a socket: bytes arrive in a later turn of the event loop, in reads of at most 64 KiB
 * (so big frames are assembled, in shared memory when asked, as off a socket); a closed end's
 * peer sees "connection closed by peer" after the bytes written before it; an open connection
 * or listener keeps the event loop alive unless unref()'d; closing a listener closes the
 * connections it accepted. Addresses are `inproc://NAME`, known to this process only.
 */
import { CommClosedError, ConfigError } from "../errors.js";
import { FramedComm, type Wire } from "./framed.js";
import type { Backend, ListenOptions, Listener } from "./types.js";

/** Bytes per delivered read, as a socket's read buffer would give them. */
const READ_BYTES = 64 * 1024;
const NAME = /^[A-Za-z0-9._~/-]+$/;
/** Longer than any test or job: the interval never fires, it only keeps the loop alive. */
const HOLD_MS = 2 ** 31 - 1;

const listeners = new Map<string, (end: InprocEnd) => void>();
let names = 0;
let connections = 0;

const hold = () => setInterval(() => undefined, HOLD_MS);

/** One end of a connection: its Wire writes into the other end's reads. */
class InprocEnd implements Wire {
  readonly comm: FramedComm;
  other!: InprocEnd;
  #incoming: Array<Buffer | "end"> = [];
  #incomingBytes = 0;
  #draining = false;
  #done = false;
  #hold = hold();

  constructor(peer: string) {
    this.comm = new FramedComm(peer, this);
  }

  write(parts: Uint8Array[]): void {
    // a closed peer reads nothing more (a socket would fail with EPIPE; its close reaches us anyway)
    if (this.#done || this.other.#done) return;
    // one copy, now: the sender may reuse its buffers once written, as with a socket
    const bytes = Buffer.concat(parts);
    for (let i = 0; i < bytes.length; i += READ_BYTES) this.other.#arrive(bytes.subarray(i, i + READ_BYTES));
  }

  backlog(): number {
    return this.other.#incomingBytes;
  }

  end(): void {
    this.#finish();
  }

  destroy(): void {
    this.#finish();
  }

  ref(): void {
    if (!this.#done) this.#hold.ref();
  }

  unref(): void {
    this.#hold.unref();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    clearInterval(this.#hold);
    if (!this.other.#done) this.other.#arrive("end");
  }

  #arrive(chunk: Buffer | "end"): void {
    this.#incoming.push(chunk);
    if (chunk !== "end") this.#incomingBytes += chunk.length;
    if (this.#draining) return;
    this.#draining = true;
    setImmediate(() => this.#drain());
  }

  #drain(): void {
    this.#draining = false;
    const chunks = this.#incoming.splice(0);
    this.#incomingBytes = 0;
    for (const c of chunks) {
      if (c !== "end") this.comm.received(c, false);
      else {
        this.comm.ended("connection closed by peer");
        this.#finish();
      }
    }
  }
}

function nameOf(o: ListenOptions): string {
  const given = o.name ?? (o.listenAddress !== undefined ? o.listenAddress.replace(/^inproc:\/\//i, "") : "");
  if (given === "") return `${process.pid}/${++names}`;
  if (!NAME.test(given)) {
    throw new ConfigError(`an inproc:// name may use letters, digits and . _ ~ / - only, got ${JSON.stringify(given)}`);
  }
  return given;
}

export const inprocBackend: Backend = {
  async connect(address) {
    const name = address.replace(/^inproc:\/\//i, "");
    const accept = listeners.get(name);
    if (!accept) throw new CommClosedError(`could not connect to ${address}: nothing listens there in this process`);
    const ours = new InprocEnd(address);
    const theirs = new InprocEnd(`${address} (connection ${++connections})`);
    ours.other = theirs;
    theirs.other = ours;
    accept(theirs);
    return ours.comm;
  },

  async listen(o, _tls, onComm): Promise<Listener> {
    const name = nameOf(o);
    const address = `inproc://${name}`;
    if (listeners.has(name)) throw new CommClosedError(`could not listen on ${address}: the name is in use in this process`);
    const accepted = new Set<InprocEnd>();
    const alive = hold();
    const accept = (end: InprocEnd) => {
      accepted.add(end);
      end.comm.onClose(() => accepted.delete(end));
      onComm(end.comm);
    };
    listeners.set(name, accept);
    return {
      address,
      port: 0,
      // what listens next to an in-process role (a dashboard) listens on loopback
      hosts: { bind: "127.0.0.1", advertise: "127.0.0.1" },
      async close() {
        if (listeners.get(name) === accept) listeners.delete(name);
        clearInterval(alive);
        for (const end of accepted) end.comm.abort("listener closed");
      },
      unref: () => void alive.unref(),
    };
  },
};
