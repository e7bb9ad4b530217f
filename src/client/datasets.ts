/**
 * Datasets: values and futures published on the scheduler under a name, for any client (the
 * scheduler side is src/extensions/datasets.ts). The Client's publishDataset/getDataset/
 * listDatasets/unpublishDataset delegate here.
 */
import { CoordinationError } from "../errors.js";
import { Op } from "../protocol/ops.js";
import type { DatasetsReplies } from "../protocol/messages-datasets.js";
import { type SharedHost, WAIT_ROUND_MS, call, checkName, checkTimeout, encodeShared, lateHand, takeShared, timedOut } from "./shared.js";

const what = (name: string) => `dataset ${JSON.stringify(name)}`;

export async function publishDataset(host: SharedHost, name: string, value: unknown, options: { override?: boolean } = {}): Promise<void> {
  checkName("dataset", name);
  const shared = encodeShared(host, value, what(name));
  await call(host, what(name), { op: Op.publishDataset, name, ...shared, override: options.override === true });
}

export async function getDataset<T>(host: SharedHost, name: string, options: { timeout?: number } = {}): Promise<T> {
  checkName("dataset", name);
  checkTimeout(what(name), options.timeout);
  const deadline = options.timeout === undefined ? undefined : Date.now() + options.timeout;
  for (;;) {
    const round = deadline === undefined ? undefined : Math.max(0, Math.min(WAIT_ROUND_MS, deadline - Date.now()));
    const r = await call<DatasetsReplies["get-dataset"]>(
      host, what(name), { op: Op.getDataset, name, timeout: round }, (round ?? 0) + 30_000,
      lateHand(host, (r: DatasetsReplies["get-dataset"]) => (r.found ? [r] : [])),
    );
    if (r.found) return takeShared(host, [r])[0] as T;
    if (deadline === undefined) {
      const known = await listDatasets(host);
      throw new CoordinationError(`${what(name)} is not published (published: ${known.length ? known.map((n) => JSON.stringify(n)).join(", ") : "none"})`);
    }
    if (Date.now() >= deadline) throw timedOut(what(name), "waiting for it to be published", options.timeout);
  }
}

export function listDatasets(host: SharedHost): Promise<string[]> {
  return call<string[]>(host, "listDatasets", { op: Op.listDatasets });
}

export async function unpublishDataset(host: SharedHost, name: string): Promise<void> {
  checkName("dataset", name);
  if (!(await call<boolean>(host, what(name), { op: Op.unpublishDataset, name }))) throw new CoordinationError(`${what(name)} is not published, so it cannot be unpublished`);
}
