/**
 * Running the queue system's commands: the one place where their failures become
 * JobQueueErrors carrying the command line, the exit code and what the command printed.
 */
import { spawn, spawnSync } from "node:child_process";
import { JobQueueError } from "../errors.js";
import type { Command } from "./system.js";

/** A queue command that hangs (an unreachable controller) fails after this long. */
const COMMAND_TIMEOUT_MS = 60_000;

/** stdout of the command; rejects with JobQueueError on a non-zero exit, a missing binary or a timeout. */
export function runCommand(cmd: Command, what: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<{ stdout: string; stderr: string }> {
  const line = cmd.argv.join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.argv[0]!, cmd.argv.slice(1), { stdio: ["pipe", "pipe", "pipe"], timeout: timeoutMs });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.stdin.on("error", () => {}); // a command that exits without reading its stdin
    child.stdin.end(cmd.stdin ?? "");
    child.on("error", (err) =>
      reject(new JobQueueError(`${what} failed: cannot run ${JSON.stringify(cmd.argv[0])} (${err.message}); is the queue system's client installed and on PATH?`, { command: line, exitCode: null, stderr, stdout }, { cause: err })),
    );
    child.on("close", (code, signal) => {
      if (code === 0) return resolve({ stdout, stderr });
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(new JobQueueError(`${what} failed: \`${line}\` ${how}: ${stderr.trim() || stdout.trim() || "(no output)"}`, { command: line, exitCode: code, stderr, stdout }));
    });
  });
}

/** For process exit, where nothing asynchronous runs any more: best effort, errors ignored. */
export function runCommandSync(cmd: Command): void {
  spawnSync(cmd.argv[0]!, cmd.argv.slice(1), { stdio: "ignore", timeout: 10_000 });
}
