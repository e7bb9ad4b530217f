/** The parent's side of the DRMAA agent (agent.ts): the same calls as a DrmaaSession, over IPC. */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { DrmaaError, DrmaaUnavailableError } from "../errors.js";
import type { AgentOp, AgentReply } from "./agent.js";
import type { JobAction, JobExit, JobStatus, JobTemplate } from "./session.js";

const AGENT = fileURLToPath(new URL("./agent.js", import.meta.url));
/** Room glibc must reserve for a DRMAA library's static TLS (Grid Engine's, through jemalloc). */
const STATIC_TLS = "glibc.rtld.optional_static_tls=16384";
/** A DRMAA call that does not answer in this long (a hung resource manager) fails. */
const CALL_TIMEOUT_MS = 120_000;

/** GLIBC_TUNABLES with room for the library's static TLS, keeping what the user set. */
export function agentTunables(current: string | undefined): string {
  if (!current) return STATIC_TLS;
  return current.includes("optional_static_tls") ? current : `${current}:${STATIC_TLS}`;
}

export class RemoteDrmaaSession {
  #child: ChildProcess;
  #next = 1;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout }>();
  #exited: string | undefined;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on("message", (r: AgentReply) => {
      const p = this.#pending.get(r.id);
      if (!p) return;
      this.#pending.delete(r.id);
      clearTimeout(p.timer);
      if (r.ok) return p.resolve(r.value);
      const e = r.error!;
      p.reject(
        typeof e.drmaaCode === "number"
          ? new DrmaaError(e.message, { drmaaCode: e.drmaaCode, codeName: e.codeName ?? "", diagnosis: e.diagnosis ?? "" })
          : e.name === "DrmaaUnavailableError"
            ? new DrmaaUnavailableError(e.message)
            : new Error(e.message),
      );
    });
    child.on("exit", (code, signal) => {
      this.#exited = `the DRMAA agent exited (${signal ?? `code ${code}`})`;
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer);
        p.reject(new DrmaaUnavailableError(this.#exited));
      }
      this.#pending.clear();
    });
    // the agent must not keep the program alive; it ends with it
    child.unref();
    child.channel?.unref();
  }

  /** Start the agent and open its session; rejects like DrmaaSession.open (what to install, what failed). */
  static async open(contact?: string): Promise<RemoteDrmaaSession> {
    const child = fork(AGENT, [], {
      env: { ...process.env, GLIBC_TUNABLES: agentTunables(process.env.GLIBC_TUNABLES) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      execArgv: [],
    });
    const s = new RemoteDrmaaSession(child);
    try {
      await s.#call("open", [contact]);
    } catch (err) {
      child.kill();
      throw err;
    }
    return s;
  }

  #call(op: AgentOp, args: unknown[]): Promise<unknown> {
    if (this.#exited) return Promise.reject(new DrmaaUnavailableError(this.#exited));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new DrmaaUnavailableError(`the DRMAA agent did not answer ${op} within ${CALL_TIMEOUT_MS} ms`));
      }, CALL_TIMEOUT_MS);
      this.#pending.set(id, { resolve, reject, timer });
      this.#child.send({ id, op, args });
    });
  }

  runJob(t: JobTemplate): Promise<string> {
    return this.#call("runJob", [t]) as Promise<string>;
  }

  runBulkJobs(t: JobTemplate, start: number, end: number, incr = 1): Promise<string[]> {
    return this.#call("runBulkJobs", [t, start, end, incr]) as Promise<string[]>;
  }

  status(jobId: string): Promise<JobStatus> {
    return this.#call("status", [jobId]) as Promise<JobStatus>;
  }

  control(jobId: string, action: JobAction): Promise<void> {
    return this.#call("control", [jobId, action]) as Promise<void>;
  }

  wait(jobId: string, timeoutS: number): Promise<JobExit> {
    return this.#call("wait", [jobId, timeoutS]) as Promise<JobExit>;
  }

  async close(): Promise<void> {
    if (this.#exited) return;
    await this.#call("close", []);
  }
}
