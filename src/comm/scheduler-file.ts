/**
 * The scheduler file: how clients and workers outside the MPI job find the scheduler.
 * JSON `{ type, id, address, services, started, secret }`, written atomically (temp file +
 * rename) with mode 0600 because it holds the cluster secret; removed on clean shutdown.
 */
import { randomBytes } from "node:crypto";
import { promises as fs, readFileSync, statSync, unlinkSync } from "node:fs";
import path from "node:path";
import { ConfigError, TimeoutError, describeError } from "../errors.js";

export interface SchedulerFileContent {
  type: "Scheduler";
  id: string;
  address: string;
  services: Record<string, string>;
  started: number;
  secret: string;
}

export async function writeSchedulerFile(file: string, content: SchedulerFileContent): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  await fs.writeFile(tmp, JSON.stringify(content, null, 2) + "\n", { mode: 0o600, flag: "wx" });
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** Remove the file if it is still ours (a newer scheduler may have replaced it). */
export function removeSchedulerFileSync(file: string, id: string): void {
  try {
    const current = JSON.parse(readFileSync(file, "utf8")) as Partial<SchedulerFileContent>;
    if (current.id === id) unlinkSync(file);
  } catch {
    // already gone, unreadable, or raced with another remover: nothing of ours to remove
  }
}

/**
 * Read and check a scheduler file. Returns undefined while it does not exist (callers wait);
 * throws ConfigError for a file that others can read or that is not a scheduler file. The file
 * is written atomically, so content that does not parse is corruption, never "not written yet".
 */
export function readSchedulerFile(file: string): SchedulerFileContent | undefined {
  let text: string;
  try {
    const st = statSync(file);
    if ((st.mode & 0o077) !== 0) {
      throw new ConfigError(
        `scheduler file ${file} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); it holds the cluster secret: run chmod 600 ${file}`,
      );
    }
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  let content: unknown;
  try {
    content = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `scheduler file ${file} is corrupt: not valid JSON (${describeError(err)}; ${text.length} bytes); remove it and restart the scheduler that writes it`,
      { cause: err },
    );
  }
  const c = (typeof content === "object" && content !== null ? content : {}) as Partial<SchedulerFileContent>;
  const missing = (["address", "secret"] as const).filter((k) => typeof c[k] !== "string" || c[k] === "");
  if (missing.length) {
    throw new ConfigError(
      `scheduler file ${file} has no ${missing.join(" or ")} (${Array.isArray(content) ? "an array" : typeof content === "object" && content ? `keys: ${Object.keys(content).join(", ") || "none"}` : `a JSON ${content === null ? "null" : typeof content}`}): is it a dask-mpi-ts scheduler file?`,
    );
  }
  return c as SchedulerFileContent;
}

/** Wait (polling) until the scheduler file exists and is valid, at most `timeoutMs`. */
export async function waitForSchedulerFile(file: string, timeoutMs: number): Promise<SchedulerFileContent> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const content = readSchedulerFile(file);
    if (content) return content;
    if (Date.now() > deadline) throw new TimeoutError(`scheduler file ${file} did not appear within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
