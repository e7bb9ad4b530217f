/**
 * When the workers of `dask-worker-ts` must retire: inside a batch job (SLURM, PBS, Grid Engine:
 * told by the environment), the job's end as its queue system reports it, minus a margin
 * (`--walltime-margin`, default a tenth of the walltime, 10 s to 5 min). Outside any job there
 * is no end. The sources are walltime.ts's (pure parsers); this runs their commands.
 */
import { userInfo } from "node:os";
import { JobQueueError, describeError } from "../errors.js";
import { logger } from "../log.js";
import { runCommand } from "./commands.js";
import { type Env, JOB_END_SOURCES, type JobEndSource, JobTimeParseError, defaultMarginMs, parseMarginFlag } from "./walltime.js";

const log = () => logger("worker");
/** A queue command asked at a worker's start answers within this, or the worker starts without an end. */
const ASK_TIMEOUT_MS = 20_000;

/** A job's time as its queue system reported it. */
export interface JobEnd {
  system: string;
  jobId: string;
  /** ms since the epoch; null when the job has no time limit */
  endsAt: number | null;
  limitMs: number | null;
  /** the commands asked, for messages */
  commands: string;
}

/**
 * The end of the batch job this process runs in, or undefined outside any job the sources know.
 * Rejects with JobQueueError (command, exit code, output) when the queue system cannot be asked
 * or its answer cannot be read.
 */
export async function findJobEnd(env: Env = process.env, sources: readonly JobEndSource[] = JOB_END_SOURCES): Promise<JobEnd | undefined> {
  for (const source of sources) {
    const jobId = source.jobId(env);
    if (jobId === undefined) continue;
    const cmds = source.commands(jobId, env, userInfo().username);
    const outputs: string[] = [];
    // a time left is counted from when it was asked for: a slow answer then errs early, never late
    const asked = Date.now();
    for (const cmd of cmds) outputs.push((await runCommand(cmd, `asking ${source.system} about job ${jobId}`, ASK_TIMEOUT_MS)).stdout);
    const commands = cmds.map((c) => c.argv.join(" ")).join("; ");
    try {
      const time = source.parse(outputs, asked, jobId, env);
      return { system: source.system, jobId, endsAt: time?.endsAt ?? null, limitMs: time?.limitMs ?? null, commands };
    } catch (err) {
      if (!(err instanceof JobTimeParseError)) throw err;
      throw new JobQueueError(`job ${jobId}: ${err.message} (\`${commands}\`)`, { command: commands, exitCode: 0, stderr: "", stdout: outputs.join("\n") }, { cause: err });
    }
  }
  return undefined;
}

/**
 * For `dask-worker-ts --walltime-margin auto|none|DURATION`: the job's end and the margin its
 * workers retire before it (WorkerOptions.jobEnd), or undefined: outside a job, a job without a
 * time limit, `none`, or a queue system that could not tell (logged as a warning: the workers
 * then run until the job is killed).
 */
export async function retirementTime(marginFlag: string | undefined, env: Env = process.env): Promise<{ at: number; marginMs: number } | undefined> {
  const margin = parseMarginFlag(marginFlag ?? "auto");
  if (margin === "none") return undefined;
  let end: JobEnd | undefined;
  try {
    end = await findJobEnd(env);
  } catch (err) {
    log().warn({ err: describeError(err), reason: "the queue system did not tell the job's end" }, "no walltime retirement");
    return undefined;
  }
  if (!end || end.endsAt === null) return undefined;
  const marginMs = margin === "auto" ? defaultMarginMs(end.limitMs ?? end.endsAt - Date.now()) : margin;
  const retireAt = end.endsAt - marginMs;
  const fields = { system: end.system, job: end.jobId, jobEndsAt: new Date(end.endsAt).toISOString(), marginMs, retireAt: new Date(retireAt).toISOString() };
  if (retireAt <= Date.now()) log().warn({ ...fields, reason: `the job ends in ${Math.round((end.endsAt - Date.now()) / 1000)} s, within the margin` }, "retiring at once");
  else log().info(fields, "will retire before the job's walltime");
  return { at: end.endsAt, marginMs };
}
