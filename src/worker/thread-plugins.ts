/**
 * The worker plugins of one task thread (worker/task-thread.ts runs these in the thread's slot,
 * between tasks): a plugin's setup is called here, and its value kept for `workerPlugin(name)`
 * (protocol/task-context.ts); its teardown is called with that value when the plugin is
 * unregistered, replaced by another of its name, or the worker closes.
 */
import { resolveTaskFunction } from "../protocol/functions.js";
import { describeError } from "../errors.js";
import { threadPlugins } from "../protocol/task-context.js";

/** What the pool sends a thread about plugins; each is answered with a `plugin-done` of its `id`. */
export type PluginMessage =
  /** set up `name` (an older one of the name is taken down first); `failed`: do not run it, record why (it killed a thread before) */
  | { type: "plugin-add"; id: number; name: string; setup?: unknown; teardown?: unknown; failed?: string }
  | { type: "plugin-remove"; id: number; name: string }
  /** the worker closes: every plugin's teardown */
  | { type: "plugins-close"; id: number };

const plugins = threadPlugins();

/** Set a plugin up: its setup's value, or its error (thrown too, for the reply, once recorded). */
export async function addPlugin(m: { name: string; setup?: unknown; teardown?: unknown; failed?: string }): Promise<void> {
  let oldFailed: { err: unknown } | undefined;
  await removePlugin(m.name).catch((err: unknown) => (oldFailed = { err }));
  if (m.failed !== undefined) {
    plugins.set(m.name, { ok: false, error: m.failed });
    throw new Error(m.failed);
  }
  try {
    const setup = m.setup === undefined ? undefined : await resolveTaskFunction(m.setup);
    plugins.set(m.name, { ok: true, value: setup ? await setup() : undefined, teardown: m.teardown });
  } catch (err) {
    plugins.set(m.name, { ok: false, error: said(err) });
    throw err;
  }
  // the new one is up; the old one's teardown failing is still an error to report, as its own
  if (oldFailed) throw new Error(`the new plugin is set up, but the teardown of the one of that name it replaces failed: ${said(oldFailed.err)}`, { cause: oldFailed.err });
}

/** An error as a task sees it in workerPlugin's message: its name and message. */
const said = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : describeError(err));

/** Take a plugin down, if this thread has it: its teardown, given its setup's value (none for one that failed). */
export async function removePlugin(name: string): Promise<void> {
  const p = plugins.get(name);
  if (!p) return;
  plugins.delete(name);
  if (p.ok && p.teardown !== undefined) await (await resolveTaskFunction(p.teardown))(p.value);
}

/** Every plugin's teardown, in the order they were set up; the first error is thrown once all ran. */
export async function closePlugins(): Promise<void> {
  let first: unknown;
  for (const name of [...plugins.keys()]) {
    try {
      await removePlugin(name);
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}
