/**
 * Datasets (client <-> the scheduler's datasets extension, src/extensions/datasets.ts): values
 * and futures published under a name for other clients. Extension ops are routed raw: the
 * extension runs these parsers itself. `value` is an encoded user value ([head, ...raws]) and
 * `keys` the keys of the futures inside it, which the scheduler keeps alive while published.
 */
import { type Message, type Parsers, bool, num, optional, parts, str, strList } from "./messages.js";

export type PublishDataset = { op: "publish-dataset"; name: string; value: Uint8Array[]; keys: string[]; override?: boolean };
/** Without `timeout` an unknown name is an error at once; with it, the scheduler waits that long (ms) for the name. */
export type GetDataset = { op: "get-dataset"; name: string; timeout?: number };
export type ListDatasets = { op: "list-datasets" };
export type UnpublishDataset = { op: "unpublish-dataset"; name: string };

export type DatasetsToScheduler = PublishDataset | GetDataset | ListDatasets | UnpublishDataset;

export interface DatasetsReplies {
  "publish-dataset": "ok";
  /** `found: false`: no such name (within the timeout) */
  "get-dataset": { found: true; value: Uint8Array[]; keys: string[] } | { found: false };
  "list-datasets": string[];
  /** whether the name was published */
  "unpublish-dataset": boolean;
}

export const datasetsParsers: Parsers<DatasetsToScheduler> = {
  "publish-dataset": (m) => (str(m, "name"), parts(m, "value"), strList(m, "keys"), optional(m, "override", bool), m as unknown as PublishDataset),
  "get-dataset": (m) => (str(m, "name"), optional(m, "timeout", num), m as unknown as GetDataset),
  "list-datasets": (m) => m as unknown as ListDatasets,
  "unpublish-dataset": (m) => (str(m, "name"), m as unknown as UnpublishDataset),
};

/** A datasets op's message, checked (a ProtocolError names the bad field). */
export function parseDatasets<K extends DatasetsToScheduler["op"]>(op: K, m: Message): Extract<DatasetsToScheduler, { op: K }> {
  return (datasetsParsers[op] as (m: Message) => Extract<DatasetsToScheduler, { op: K }>)(m);
}
