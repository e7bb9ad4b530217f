/**
 * Datasets: values and futures published under a name, for any client (Dask's
 * publish_dataset). The scheduler keeps a published value (encoded; the scheduler never
 * decodes it) and keeps the keys of the futures inside it alive under the holder name
 * "published-datasets" until it is unpublished, whoever published it and whether or not that
 * client is still connected. A client that gets the dataset wants those keys itself (see
 * KeyHolds.handTo) and gets futures of its own. A get may wait for a name to be published.
 */
import type { PeerRef, SchedulerExtension, SchedulerView } from "../scheduler/extension.js";
import type { Message } from "../protocol/messages.js";
import { type DatasetsReplies, type DatasetsToScheduler, parseDatasets } from "../protocol/messages-datasets.js";
import { Op } from "../protocol/ops.js";
import type { FrameTooLargeError } from "../errors.js";
import { type Taker, carrying, own, peerId, taker, tooBigFor } from "./common.js";
import { KeyHolds } from "./key-holds.js";
import { WaitList } from "./waiters.js";

type Dataset = { value: Uint8Array[]; keys: string[] };

export class Datasets {
  readonly #data = new Map<string, Dataset>();
  /** name -> the gets waiting for it to be published */
  readonly #waiting = new Map<string, WaitList<Taker, Dataset | FrameTooLargeError | null>>();
  readonly holds: KeyHolds;
  readonly #view: () => SchedulerView;

  constructor(view: () => SchedulerView) {
    this.#view = view;
    this.holds = new KeyHolds("published-datasets", view);
  }

  /**
   * With a journal, the reply waits until the dataset is on disk: a scheduler taking over after
   * a crash has every dataset whose publish was answered.
   */
  publish(m: { name: string; value: Uint8Array[]; keys: string[]; override?: boolean }): "ok" | Promise<"ok"> {
    const old = this.#data.get(m.name);
    if (old && !m.override) throw new Error(`dataset ${JSON.stringify(m.name)} is already published; unpublish it first, or publish with { override: true }`);
    const unknown = this.holds.add(m.keys);
    if (unknown.length) throw new Error(`dataset ${JSON.stringify(m.name)}: the scheduler no longer knows ${JSON.stringify(unknown[0])} (a released or cancelled future)`);
    if (old) this.holds.release(old.keys);
    const d = { value: own(m.value), keys: m.keys };
    this.#data.set(m.name, d);
    const journal = this.#view().journal;
    journal?.put("datasets", m.name, d);
    const waiting = this.#waiting.get(m.name);
    this.#waiting.delete(m.name);
    for (const w of waiting?.drain() ?? []) w.settle(this.#handTo(w.payload, m.name, d));
    return journal ? journal.durable().then(() => "ok" as const) : "ok";
  }

  /** Datasets a journaled scheduler had published before the take-over (their keys came back with the journal's graphs). */
  restore(): void {
    for (const [name, v] of this.#view().journal?.restored("datasets") ?? []) {
      const d = v as Dataset;
      if (this.holds.add(d.keys).length) continue; // a key the journal lost: the dataset cannot be whole
      this.#data.set(name, { value: d.value.map((p) => new Uint8Array(p)), keys: d.keys });
    }
  }

  async get(m: { name: string; timeout?: number }, client: Taker): Promise<DatasetsReplies["get-dataset"]> {
    const d = this.#data.get(m.name);
    let got: Dataset | FrameTooLargeError | null = d ? this.#handTo(client, m.name, d) : null;
    if (!d && m.timeout !== undefined && m.timeout > 0) {
      let list = this.#waiting.get(m.name);
      if (!list) this.#waiting.set(m.name, (list = new WaitList()));
      got = await list.wait(client.id, client, m.timeout, null); // handed over by publish()
      if (list.size === 0 && this.#waiting.get(m.name) === list) this.#waiting.delete(m.name);
    }
    if (got instanceof Error) throw got;
    return got ? carrying({ found: true, ...got }, [got]) : { found: false };
  }

  /** `d` for `client` (it then wants the dataset's keys), or the error saying it is too big for its frames. */
  #handTo(client: Taker, name: string, d: Dataset): Dataset | FrameTooLargeError {
    const big = tooBigFor(client, [d], `dataset ${JSON.stringify(name)}`, "get it from a client connected with a larger maxFrameSize, or publish less (big data is best scattered, and its futures published)");
    if (big) return big;
    this.holds.handTo(client.id, d.keys);
    return d;
  }

  list(): string[] {
    return [...this.#data.keys()];
  }

  unpublish(name: string): boolean | Promise<boolean> {
    const d = this.#data.get(name);
    if (!d) return false;
    this.#data.delete(name);
    this.holds.release(d.keys);
    const journal = this.#view().journal;
    journal?.put("datasets", name, null);
    return journal ? journal.durable().then(() => true) : true;
  }

  clientRemoved(client: string): void {
    for (const [name, list] of this.#waiting) {
      list.dropClient(client, null);
      if (list.size === 0) this.#waiting.delete(name);
    }
  }
}

/** The datasets extension (deploy/extensions.ts lists it). */
export function datasetsExtension(): SchedulerExtension {
  let view: SchedulerView | undefined;
  const ds = new Datasets(() => view!);
  const ops: Record<DatasetsToScheduler["op"], (m: Message, peer: PeerRef) => unknown> = {
    [Op.publishDataset]: (m) => ds.publish(parseDatasets("publish-dataset", m)),
    [Op.getDataset]: (m, peer) => ds.get(parseDatasets("get-dataset", m), taker(peer)),
    [Op.listDatasets]: () => ds.list(),
    [Op.unpublishDataset]: (m) => ds.unpublish(parseDatasets("unpublish-dataset", m).name),
  };
  const ext: SchedulerExtension = {
    name: "datasets",
    ops,
    start: async (v) => {
      view = v;
      ds.restore();
    },
    onClientRemoved: (id) => ds.clientRemoved(id),
    // a worker's own requests wait under its address (peerId)
    onWorkerRemoved: (address) => ds.clientRemoved(peerId({ kind: "worker", address })),
  };
  return ext;
}
