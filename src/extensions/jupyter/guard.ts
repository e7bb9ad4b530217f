/**
 * The guard: a small process between the scheduler and Jupyter, so that Jupyter and its kernels
 * end with the scheduler however it ends. Started by launch.ts (by URL) with Jupyter's
 * environment and directory, and an IPC channel to the scheduler (`node guard.js --runtime-dir DIR JUPYTER ARGS...`: DIR is the runtime directory
 * launch.ts made for this server, removed once Jupyter has exited, whoever stopped it). It runs
 * Jupyter in a process group of its own and
 *   - tells the scheduler `{ type: "spawned", pid }`, then `{ type: "exited", code, signal }`
 *     (or `{ type: "error", message }` when Jupyter could not be started), and exits;
 *   - stops Jupyter when the scheduler says `{ type: "stop" }`, when the channel closes (the
 *     scheduler exited, or was killed with SIGKILL: the kernel closes its end), or on
 *     SIGTERM/SIGINT/SIGHUP (a queue system ending the job);
 *   - stopping: SIGTERM to Jupyter's group (Jupyter shuts its kernels down), SIGKILL to the group
 *     after STOP_GRACE_MS; once Jupyter has exited, SIGKILL to every process that was below it
 *     and is still alive (kernels run in sessions of their own, out of its group).
 * Jupyter's descendants are looked at every few seconds and at the stop (tree.ts), so the
 * kernels of a Jupyter that died by itself are ended too. Node builtins and tree.ts only: it
 * starts fast and depends on nothing that could fail to load.
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { STOP_GRACE_MS, descendants, processTable } from "./tree.js";

const LOOK_EVERY_MS = 3000;

const [flag, runtimeDir, command, ...args] = process.argv.slice(2);
if (flag !== "--runtime-dir" || !runtimeDir || !command) {
  process.stderr.write("usage: guard.js --runtime-dir DIR JUPYTER [ARGS...] (the scheduler's jupyter extension starts it)\n");
  process.exit(2);
}

let finished = false;
/** The last word to the scheduler, then exit (once the message is written). */
function finish(msg: object, code: number): void {
  if (finished) return;
  finished = true;
  process.exitCode = code;
  // Jupyter's runtime files (its connection files, its info with the token), and the directory launch.ts made
  rmSync(runtimeDir!, { recursive: true, force: true });
  if (!process.connected) process.exit();
  process.send!(msg, undefined, {}, () => process.exit());
}

// Jupyter writes its log straight into the scheduler's pipes; its process group is its own
const child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit"], detached: true });
const known = new Map<number, string>();
const look = () => {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  for (const p of descendants(child.pid)) known.set(p.pid, p.start);
};
const looking = setInterval(look, LOOK_EVERY_MS);

function signalGroup(signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // the group is gone
  }
}

/** SIGKILL what was below Jupyter and is still that same process. */
function killLeft(): void {
  const table = processTable();
  for (const [pid, start] of known) {
    if (table.get(pid)?.[1] !== start) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  look();
  signalGroup("SIGTERM");
  setTimeout(() => signalGroup("SIGKILL"), STOP_GRACE_MS);
}

child.on("spawn", () => {
  look();
  if (process.connected) process.send!({ type: "spawned", pid: child.pid });
});
child.on("error", (err) => {
  clearInterval(looking);
  finish({ type: "error", message: err.message }, 127);
});
child.on("exit", (code, signal) => {
  clearInterval(looking);
  // whatever it left behind: a kernel that did not shut down, or all of them if it crashed
  signalGroup("SIGKILL");
  killLeft();
  finish({ type: "exited", code, signal }, code ?? 1);
});
process.on("message", (m: { type?: string }) => {
  if (m?.type === "stop") stop();
});
process.on("disconnect", stop);
for (const s of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(s, stop);
