/**
 * The scheduler's one registry of task functions: each distinct function (by content, whichever
 * client or message brought it) gets a number for the scheduler's life; a worker is sent a
 * function once and then hears only its number. Tasks carry the number (TaskSpec.fn).
 * (protocol/functions.ts's FunctionTable takes this role at merge: same idOf/sendOnce.)
 */
export class FunctionTable {
  /** id by the function's wire form as text; the wire forms by id - 1 */
  #ids = new Map<string, number>();
  #wires: unknown[] = [];
  #sent = new WeakMap<object, Set<number>>();

  /** The function's number (1, 2, ...): the same for the same wire form. */
  idOf(wire: unknown): number {
    const text = JSON.stringify(wire);
    let id = this.#ids.get(text);
    if (id === undefined) {
      id = this.#wires.push(wire);
      this.#ids.set(text, id);
    }
    return id;
  }

  /** The wire form of function `id` the first time `peer` needs it; undefined after that. */
  sendOnce(peer: object, id: number): unknown {
    let sent = this.#sent.get(peer);
    if (!sent) this.#sent.set(peer, (sent = new Set()));
    if (sent.has(id)) return undefined;
    sent.add(id);
    return this.#wires[id - 1];
  }
}
