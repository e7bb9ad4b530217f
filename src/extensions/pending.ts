/**
 * "Why pending?" for clients (client.whyPending): the `why-pending` op answers with the
 * scheduler's whyPending (scheduler/pending.ts), the job queue's side included when a job-queue
 * cluster runs the scheduler.
 */
import { ProtocolError } from "../errors.js";
import type { Message } from "../protocol/messages.js";
import { Op } from "../protocol/ops.js";
import type { SchedulerExtension, SchedulerView } from "../scheduler/extension.js";

export function pendingExtension(): SchedulerExtension {
  let view: SchedulerView | undefined;
  return {
    name: "pending",
    ops: {
      [Op.whyPending]: (m: Message) => {
        const key = (m as { key?: unknown }).key;
        if (key !== undefined && typeof key !== "string") throw new ProtocolError(`why-pending: key must be a string, got ${JSON.stringify(key)}`);
        return view!.whyPending(key);
      },
    },
    start(s) {
      view = s;
      return Promise.resolve();
    },
  };
}
