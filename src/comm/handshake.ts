/**
 * Mutual challenge/response proving both ends know the cluster secret, run on every new
 * connection before any other op is accepted:
 *
 *   server -> { op: "hello", nonce: S }
 *   client -> { op: "auth", mac: HMAC(secret, "client" S), nonce: C, maxFrame: its frame cap }
 *   server -> { op: "welcome", mac: HMAC(secret, "server" C), maxFrame: its frame cap }
 *
 * Each end learns the largest frame the other takes (`Comm.peerMaxFrameBytes`; a peer that does
 * not say takes frames up to the 32-bit limit), so a sender can refuse a value by name, or split
 * a batch, rather than have the connection closed on it.
 * Compared in constant time; the secret itself never crosses the wire and is never logged.
 * Until it succeeds, frames are capped at PRE_AUTH_MAX_FRAME; a stall past the deadline closes.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { CommClosedError, HandshakeError, MAX_FRAME_LIMIT, describeError } from "../errors.js";
import { Op } from "../protocol/ops.js";
import type { Message } from "../protocol/messages.js";
import type { Comm } from "./types.js";

const NONCE_BYTES = 32;

/** A new random cluster secret (hex). */
export function newSecret(): string {
  return randomBytes(32).toString("hex");
}

function mac(secret: string, role: "client" | "server", nonce: Uint8Array): Buffer {
  return createHmac("sha256", secret).update(role).update(nonce).digest();
}

function macMatches(expected: Buffer, got: unknown): boolean {
  return got instanceof Uint8Array && got.length === expected.length && timingSafeEqual(expected, got);
}

function expectOp(m: Message, op: string): void {
  if (m.op !== op) throw new HandshakeError(`expected ${op} during the handshake, got ${JSON.stringify(m.op)}`);
}

/** How long the handshake may take, and the frame cap once it succeeded. */
export interface HandshakeLimits {
  timeoutMs: number;
  maxFrameBytes: number;
}

async function run(comm: Comm, limits: HandshakeLimits, steps: (deadline: number) => Promise<void>): Promise<void> {
  const deadline = Date.now() + limits.timeoutMs;
  try {
    await steps(deadline);
  } catch (err) {
    comm.abort(`handshake failed: ${describeError(err)}`);
    throw err instanceof HandshakeError
      ? err
      : new HandshakeError(`handshake with ${comm.peer} failed: ${describeError(err)}`, { cause: err });
  }
  comm.setMaxFrameBytes(limits.maxFrameBytes);
}

const left = (deadline: number) => Math.max(1, deadline - Date.now());

/** Server side: challenge the peer; resolves once it proved the secret, else aborts the comm. */
export function acceptHandshake(comm: Comm, secret: string, limits: HandshakeLimits): Promise<void> {
  return run(comm, limits, async (deadline) => {
    // a worker that has not yet learnt its secret (from the scheduler file) admits no one: the
    // empty secret would be a door open to anyone who finds the port
    if (secret === "") throw new HandshakeError(`peer ${comm.peer} refused: this process has no cluster secret yet`);
    const nonce = randomBytes(NONCE_BYTES);
    comm.send({ op: Op.hello, nonce });
    const auth = await comm.recv(left(deadline));
    expectOp(auth, Op.auth);
    if (!macMatches(mac(secret, "client", nonce), auth.mac)) {
      throw new HandshakeError(`peer ${comm.peer} does not know the cluster secret`);
    }
    if (!(auth.nonce instanceof Uint8Array) || auth.nonce.length !== NONCE_BYTES) {
      throw new HandshakeError(`peer ${comm.peer} sent a malformed nonce`);
    }
    learnPeerCap(comm, auth.maxFrame);
    comm.send({ op: Op.welcome, mac: mac(secret, "server", auth.nonce), maxFrame: limits.maxFrameBytes });
  });
}

/** Client side: answer the challenge and check that the server knows the secret too. */
export function offerHandshake(comm: Comm, secret: string, limits: HandshakeLimits): Promise<void> {
  return run(comm, limits, async (deadline) => {
    const hello = await comm.recv(left(deadline));
    expectOp(hello, Op.hello);
    if (!(hello.nonce instanceof Uint8Array)) throw new HandshakeError(`server ${comm.peer} sent a malformed nonce`);
    const nonce = randomBytes(NONCE_BYTES);
    comm.send({ op: Op.auth, mac: mac(secret, "client", hello.nonce), nonce, maxFrame: limits.maxFrameBytes });
    let welcome: Message;
    try {
      welcome = await comm.recv(left(deadline));
    } catch (err) {
      if (!(err instanceof CommClosedError)) throw err;
      // servers hang up on a wrong proof without saying why (they tell strangers nothing)
      throw new HandshakeError(`${comm.peer} closed the connection after checking our proof of the cluster secret: is the secret (or scheduler file) the right one?`);
    }
    expectOp(welcome, Op.welcome);
    if (!macMatches(mac(secret, "server", nonce), welcome.mac)) {
      throw new HandshakeError(`server ${comm.peer} does not know the cluster secret`);
    }
    learnPeerCap(comm, welcome.maxFrame);
  });
}

/** The peer's frame cap, if it said a sane one (else the comm keeps the 32-bit limit). */
function learnPeerCap(comm: Comm, n: unknown): void {
  if (typeof n === "number" && Number.isInteger(n) && n > 0 && n <= MAX_FRAME_LIMIT) comm.setPeerMaxFrameBytes(n);
}
