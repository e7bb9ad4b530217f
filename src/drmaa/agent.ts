/**
 * The DRMAA agent: a child process that holds the DRMAA session for a DRMAACluster. Why a
 * child: a DRMAA library is loaded into a process once and for good, and Grid Engine's needs
 * static thread-local storage that only a process started with GLIBC_TUNABLES can give it; the
 * agent is started with that environment, so the user's program needs none. It also keeps the
 * C library's state out of the program, and it outlives nothing: when its parent goes (exit,
 * crash, SIGKILL) the IPC channel closes and the agent terminates every job it submitted.
 *
 * Protocol (IPC, one request at a time per id): { id, op, args } -> { id, ok, value | error }.
 */
import { DrmaaError } from "../errors.js";
import { DrmaaSession, type JobTemplate } from "./session.js";

export type AgentOp = "open" | "runJob" | "runBulkJobs" | "status" | "control" | "wait" | "info" | "close";
export interface AgentRequest {
  id: number;
  op: AgentOp;
  args: unknown[];
}
export interface AgentReply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: { name: string; message: string; drmaaCode?: number; codeName?: string; diagnosis?: string };
}

let session: DrmaaSession | undefined;
const submitted = new Set<string>();

async function handle(op: AgentOp, args: unknown[]): Promise<unknown> {
  if (op === "open") {
    session = await DrmaaSession.open(args[0] as string | undefined);
    return session.info();
  }
  if (!session) throw new Error("the DRMAA agent has no open session");
  switch (op) {
    case "runJob": {
      const id = await session.runJob(args[0] as JobTemplate);
      submitted.add(id);
      return id;
    }
    case "runBulkJobs": {
      const ids = await session.runBulkJobs(args[0] as JobTemplate, args[1] as number, args[2] as number, args[3] as number);
      for (const id of ids) submitted.add(id);
      return ids;
    }
    case "status":
      return session.status(args[0] as string);
    case "control":
      await session.control(args[0] as string, args[1] as "terminate");
      return undefined;
    case "wait":
      return session.wait(args[0] as string, args[1] as number);
    case "info":
      return session.info();
    case "close":
      await session.close();
      session = undefined;
      submitted.clear();
      setImmediate(() => process.exit(0));
      return undefined;
  }
}

process.on("message", (m: AgentRequest) => {
  handle(m.op, m.args).then(
    (value) => process.send?.({ id: m.id, ok: true, value } satisfies AgentReply),
    (err: unknown) => {
      const e = err as Error & Partial<DrmaaError>;
      process.send?.({
        id: m.id,
        ok: false,
        error: { name: e.name ?? "Error", message: e.message ?? String(err), drmaaCode: e.drmaaCode, codeName: e.codeName, diagnosis: e.diagnosis },
      } satisfies AgentReply);
    },
  );
});

// the program that asked for these jobs is gone: its jobs go too
process.on("disconnect", () => void terminateAll().finally(() => process.exit(0)));

/**
 * Terminate every job submitted here. A terminate that fails (the job in transit to its host,
 * the qmaster busy) is tried again, every 500 ms for at most 30 s, rather than leaving the job
 * to run; a job the DRM no longer knows (it ended) is done.
 */
async function terminateAll(): Promise<void> {
  let left = [...submitted];
  const deadline = Date.now() + 30_000;
  while (left.length && session) {
    const s = session;
    left = left.filter((id) => {
      const err = s.controlSync(id, "terminate");
      return err !== undefined && err !== "session closed" && !err.startsWith("DRMAA_ERRNO_INVALID_JOB");
    });
    if (!left.length || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (left.length) process.stderr.write(`dask-mpi-ts DRMAA agent: could not terminate jobs ${left.join(", ")} after its program ended\n`);
}
