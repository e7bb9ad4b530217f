/** The update-graph messages a client sends for the tasks it submitted. No I/O. */
import type { TaskSpec } from "../protocol/messages.js";
import type { UpdateGraph } from "../protocol/messages-client.js";
import { Op } from "../protocol/ops.js";

/** Tasks per update-graph message (a bigger map is sent in several, one per turn). */
export const GRAPH_CHUNK = 10_000;

/** One update-graph for `tasks`, each distinct function (by identity) once. */
export function graphMessage(tasks: TaskSpec[]): UpdateGraph {
  const functions: UpdateGraph["functions"] = [];
  const index = new Map<unknown, number>();
  const wire = tasks.map((t) => {
    let i = index.get(t.fn);
    if (i === undefined) index.set(t.fn, (i = functions.push(t.fn as UpdateGraph["functions"][number]) - 1));
    return { ...t, fn: i };
  });
  return { op: Op.updateGraph, functions, tasks: wire };
}
