/** The lifecycle status shared by scheduler, worker and nanny. */
export const Status = {
  init: "init",
  starting: "starting",
  running: "running",
  paused: "paused",
  closing: "closing",
  closed: "closed",
  failed: "failed",
} as const;
export type Status = (typeof Status)[keyof typeof Status];
