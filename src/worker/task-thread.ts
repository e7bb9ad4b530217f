/**
 * Body of one task thread (worker_threads). Receives { id, fn, args }, runs fn(...args),
 * and posts back the msgpack-encoded result (its buffer transferred, not cloned) or the error.
 * User data is decoded and encoded here, never on the worker's main thread.
 */
import { parentPort } from "node:worker_threads";
import { decode, encode } from "../protocol/msgpack.js";
import { toWireError } from "../protocol/ops.js";
import { compileFunction } from "./compile.js";

export interface TaskRequest {
  id: number;
  fn: string;
  args: Uint8Array;
}

export type TaskResponse =
  | { id: number; ok: true; bytes: Uint8Array }
  | { id: number; ok: false; error: { name: string; message: string; stack: string } };

const port = parentPort!;

port.on("message", async (req: TaskRequest) => {
  let res: TaskResponse;
  try {
    const fn = compileFunction(req.fn);
    const args = decode(req.args);
    if (!Array.isArray(args)) throw new TypeError("task arguments must decode to a list");
    const value = await fn(...args);
    // copy out of msgpackr's reusable buffer into one we can transfer
    const bytes = new Uint8Array(encode(value));
    res = { id: req.id, ok: true, bytes };
    port.postMessage(res, [bytes.buffer]);
    return;
  } catch (err) {
    res = { id: req.id, ok: false, error: toWireError(err) };
  }
  port.postMessage(res);
});
