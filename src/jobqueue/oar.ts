/**
 * OAR (2.5, Debian's oar-* packages): oarsub -S / oarstat / oardel, `#OAR` directives. Tested on
 * a real OAR started by .ci/oar-setup.sh.
 */
import { JobQueueCluster } from "./cluster.js";
import type { JobQueueOptions } from "./options.js";
import type { JobState, JobSystem } from "./system.js";

/** oarstat's one-letter states: Waiting, Hold, toLaunch, toError, toAckReservation, Launching, Running, Suspended, resUming, Finishing, Terminated, Error. */
const RUNNING = new Set(["R", "S", "U"]);
const PENDING = new Set(["W", "H", "T", "A", "L"]);

export const oar: JobSystem = {
  name: "oar",
  className: "OARCluster",
  directive: "#OAR",
  jobIdVar: "OAR_JOB_ID",
  header(s) {
    const d = (x: string) => `#OAR ${x}`;
    const walltime = s.walltime === null ? "" : `,walltime=${s.walltime}`;
    return [
      d(`-n ${s.jobName}`),
      ...(s.queue === null ? [] : [d(`-q ${s.queue}`)]),
      ...(s.account === null ? [] : [d(`--project ${s.account}`)]),
      d(`-l ${s.resourceSpec ?? `/nodes=1/core=${s.cores}`}${walltime}`),
      ...(s.logDirectory === null ? [] : [d(`--stdout ${s.logDirectory}/${s.jobName}-%jobid%.out`), d(`--stderr ${s.logDirectory}/${s.jobName}-%jobid%.err`)]),
    ];
  },
  // -S: oarsub reads the #OAR lines of the (executable) script
  submit: (path) => ({ argv: ["oarsub", "-S", path] }),
  cancel: (ids) => ({ argv: ["oardel", ...ids] }),
  status: (user) => ({ argv: ["oarstat", "-u", user] }),
  // [ADMISSION RULE] ... lines, then OAR_JOB_ID=1234
  jobIdPattern: /^OAR_JOB_ID=(?<id>\d+)\s*$/m,
  parseStatus(stdout) {
    // Job id, S, User, Duration, System message
    const out = new Map<string, JobState>();
    for (const line of stdout.split("\n")) {
      const m = /^(\d+)\s+(\w)\s/.exec(line.trim());
      if (!m) continue;
      out.set(m[1]!, RUNNING.has(m[2]!) ? "running" : PENDING.has(m[2]!) ? "pending" : "ending");
    }
    return out;
  },
  // oarstat -f -j: "message = ..." (e.g. "Karma=..., no resources", "Cannot find enough resources") and its state
  reasons: (ids) => ids.map((id) => ({ argv: ["oarstat", "-f", "-j", id] })),
  parseReasons(outputs, ids) {
    const out = new Map<string, string>();
    for (const text of outputs) {
      const id = /^Job_Id:\s*(\d+)/m.exec(text)?.[1];
      if (!id || !ids.includes(id)) continue;
      const state = /^\s*state = (.*)$/m.exec(text)?.[1]?.trim();
      const message = /^\s*message = (.*)$/m.exec(text)?.[1]?.trim();
      out.set(id, [state, message].filter(Boolean).join(": "));
    }
    return out;
  },
};

/** Workers as OAR jobs; the scheduler runs in this process. */
export class OARCluster extends JobQueueCluster {
  static create(options: JobQueueOptions = {}): Promise<OARCluster> {
    return JobQueueCluster.startCluster(OARCluster, oar, options);
  }
}
