/**
 * How the scheduler is extended without importing what extends it (the dashboard today; later
 * locks, datasets...): deploy hands the scheduler a list of extensions, the scheduler starts
 * them, fans its events out to their hooks and routes their ops. Types only for now: P3 wires
 * `SchedulerOptions.extensions` (replacing `dashboardAddress`) and the hook fan-out.
 */
import type { Message, SchedulerIdentity } from "../protocol/messages.js";
import type { SchedulerState } from "./state.js";

/** What an extension may read of the scheduler's state (queries only; P3 narrows it). */
export type SchedulerStateView = SchedulerState;

/** The scheduler as an extension sees it. */
export interface SchedulerView {
  readonly id: string;
  readonly address: string;
  readonly state: SchedulerStateView;
  identity(): SchedulerIdentity;
  /** What else listens next to the scheduler, by name (e.g. `dashboard`: its URL). */
  readonly services: Record<string, string>;
}

/** Who sent an extension op. */
export type PeerRef = { kind: "client"; id: string } | { kind: "worker"; address: string };

export interface SchedulerExtension {
  /** "dashboard", later "locks", "datasets". */
  readonly name: string;
  /** New client ops; each extension parses its own messages. */
  readonly ops?: Record<string, (msg: Message, peer: PeerRef) => unknown>;
  /** Called once the scheduler listens; `net` is the host it bound and the one it advertises. */
  start?(s: SchedulerView, net: { bind: string; advertise: string }): Promise<{ services?: Record<string, string> } | void>;
  onTaskFinished?(e: { key: string; worker: string; durationS: number; at: number }): void;
  onWorkerRemoved?(address: string, reason: string): void;
  onClientRemoved?(id: string): void;
  close?(reason: string): Promise<void>;
}

/** An extension, or a loader of one: loading overlaps with opening the scheduler's socket. */
export type ExtensionSource = SchedulerExtension | (() => Promise<SchedulerExtension>);
