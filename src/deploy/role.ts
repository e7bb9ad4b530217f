/**
 * A started role (scheduler, worker, or a nanny with its worker) as the launchers hold it:
 * its address, how it ended, and how to stop it. deploy/roles.ts makes them (startScheduler,
 * startWorker: the one place that decides "nanny or not"); deploy/signals.ts stops them on signals.
 */

/** How a role ended. */
export interface RoleEnd {
  ok: boolean;
  reason: string;
  /** The launcher's exit code. */
  status: number;
}

export interface RoleHandle<R = unknown> {
  readonly kind: "scheduler" | "worker" | "nanny";
  /** Scheduler | Worker | Nanny, for launchers that need more. */
  readonly role: R;
  readonly address: string;
  /** Never rejects. */
  readonly ended: Promise<RoleEnd>;
  /** Idempotent; escalates as STYLE "Lifecycle" says. */
  stop(reason: string): Promise<RoleEnd>;
  /** Synchronous, for exit hooks (today nanny.killNow). */
  kill(): void;
}
