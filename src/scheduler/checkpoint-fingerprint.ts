/**
 * Which computation a checkpoint holds the result of. A checkpoint file is named by its key and
 * by the fingerprint of the computation that made it (journal.ts `checkpointPath`), so a later
 * run loads it only for the same computation: the same function (its source; for a remote()
 * export, its module file's bytes too), the same arguments, and dependencies that are the same
 * computations in turn (a Merkle hash over the lineage). A key given by the user and reused for
 * another computation, a remote() module edited between runs, or a task whose named dependency
 * now computes something else, then has no checkpoint and is computed again.
 *
 * Not covered: what a remote() module imports (only its own file is read), and data the journal
 * does not hold (scattered values, keys of no journaled task): those count by their key alone.
 * No I/O here: the module digests come from the caller.
 */
import { createHash } from "node:crypto";
import { functionIdentity } from "../protocol/functions.js";
import type { WireFunction } from "../protocol/messages.js";

/** What a fingerprint is made of. */
export interface FingerprintSources {
  /** the task journaled under `key` (undefined: no task makes it, e.g. scattered data) */
  task(key: string): { fn: WireFunction; args: readonly Uint8Array[]; deps: readonly string[] } | undefined;
  /** the digest of a remote() export's module file (`url`), or a marker when it cannot be read */
  module(url: string): string;
}

const VERSION = "dask-mpi-ts computation 1";

/**
 * Fingerprints of keys, cached. A key journaled again may be another computation: `forget` it
 * first (its dependents of the old computation were forgotten before it could be; they come back
 * only by being journaled again, and forgotten then).
 */
export class Fingerprints {
  readonly #src: FingerprintSources;
  readonly #cache = new Map<string, string>();

  constructor(src: FingerprintSources) {
    this.#src = src;
  }

  forget(key: string): void {
    this.#cache.delete(key);
  }

  /** The fingerprint of the computation of `key` (its lineage walked without recursion: graphs can be deep chains). */
  of(root: string): string {
    const hit = this.#cache.get(root);
    if (hit !== undefined) return hit;
    const onStack = new Set<string>([root]);
    const stack: string[] = [root];
    while (stack.length) {
      const key = stack[stack.length - 1]!;
      const t = this.#src.task(key);
      if (!t) {
        stack.pop();
        onStack.delete(key);
        this.#cache.set(key, `key ${key}`);
        continue;
      }
      // dependencies first
      let pushed = false;
      for (const d of t.deps) {
        if (this.#cache.has(d) || onStack.has(d)) continue;
        onStack.add(d);
        stack.push(d);
        pushed = true;
      }
      if (pushed) continue;
      stack.pop();
      onStack.delete(key);
      this.#cache.set(key, this.#hash(t, onStack));
    }
    return this.#cache.get(root)!;
  }

  #hash(t: { fn: WireFunction; args: readonly Uint8Array[]; deps: readonly string[] }, onStack: ReadonlySet<string>): string {
    const h = createHash("sha256");
    h.update(`${VERSION}\0${functionIdentity(t.fn)}\0`);
    if (t.fn.kind === "module") h.update(`module ${this.#src.module(t.fn.url)}\0`);
    h.update(`${t.args.length}`);
    for (const p of t.args) {
      h.update(`\0${p.byteLength}\0`);
      h.update(p);
    }
    h.update(`\0${t.deps.length}`);
    // a cycle (refused by the scheduler, but journaled as sent) is named, not followed
    for (const d of t.deps) h.update(`\0${onStack.has(d) ? `cycle ${d}` : this.#cache.get(d)!}`);
    return h.digest("base64url");
  }
}
