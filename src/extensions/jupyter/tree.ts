/**
 * The process tree, from /proc (Linux; empty elsewhere): what the guard (guard.ts) ends when it
 * stops Jupyter. A process is known by its pid and start time, so a pid reused later is not
 * taken for it.
 */
import { readFileSync, readdirSync } from "node:fs";

/** How long Jupyter has to shut its kernels down after SIGTERM (it waits up to 5 s per kernel, in parallel). */
export const STOP_GRACE_MS = 8000;

export type TreeProc = { pid: number; start: string };

/** pid -> [parent pid, start time] of every process now, from /proc/<pid>/stat. */
export function processTable(): Map<number, [number, string]> {
  const table = new Map<number, [number, string]>();
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    return table;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "latin1");
      // after the command name (which may hold spaces and parentheses): state, ppid, ..., starttime (field 22)
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      table.set(Number(e), [Number(f[1]), f[19] ?? ""]);
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

/** Every process below `root` in `table`, with its start time. */
export function descendants(root: number, table = processTable()): TreeProc[] {
  const children = new Map<number, number[]>();
  for (const [pid, [ppid]] of table) {
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  const out: TreeProc[] = [];
  const todo = [...(children.get(root) ?? [])];
  while (todo.length) {
    const pid = todo.pop()!;
    out.push({ pid, start: table.get(pid)![1] });
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}
