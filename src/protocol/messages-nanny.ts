/** Messages between a nanny and its worker child over the IPC channel. */
import type { WorkerOptions } from "../worker/options.js";

export type NannyMessage = { type: "start"; options: WorkerOptions; log: Record<string, string | number> } | { type: "close"; reason: string };

export type ChildMessage =
  | { type: "ready"; address: string }
  | { type: "start-failed"; reason: string }
  | { type: "closing"; reason: string; clean: boolean; retired: boolean };
