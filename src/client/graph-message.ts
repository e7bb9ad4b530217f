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

/**
 * The tasks in an order where each comes after those of the list it depends on: a graph sent in
 * several update-graph messages (GRAPH_CHUNK tasks each) never has a task reach the scheduler
 * before a dependency of the same graph. Dependencies outside the list are not looked at; a
 * cycle keeps the order the walk found (the scheduler refuses it).
 */
export function dependenciesFirst(tasks: TaskSpec[]): TaskSpec[] {
  const at = new Map<string, number>();
  tasks.forEach((t, i) => at.set(t.key, i));
  const seen = new Uint8Array(tasks.length);
  const out: TaskSpec[] = [];
  for (let root = 0; root < tasks.length; root++) {
    if (seen[root]) continue;
    seen[root] = 1;
    // depth first without recursion (a chain of a million tasks): [task, its next dependency]
    const stack: Array<[number, number]> = [[root, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const deps = tasks[top[0]]!.deps;
      if (top[1] < deps.length) {
        const d = at.get(deps[top[1]++]!);
        if (d !== undefined && !seen[d]) {
          seen[d] = 1;
          stack.push([d, 0]);
        }
        continue;
      }
      stack.pop();
      out.push(tasks[top[0]]!);
    }
  }
  return out;
}
