/**
 * The client side of a launch: connect the program's default client (getClient()) to the
 * cluster just started, and run the user's SCRIPT with it (dask-mpi-ts SCRIPT under mpirun or
 * srun; initialize() only connects).
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { Client } from "../client/client.js";
import type { TlsFiles } from "../comm/tls.js";

/** A client rank waits this long for the scheduler to answer. */
export const CLIENT_CONNECT_MS = 60_000;

/** The scheduler to connect to: its address and secret, or its scheduler file. */
export type ConnectTarget = { address: string; secret: string } | { schedulerFile: string };

/** Connect a client and make it the default one (what getClient() returns). */
export async function connectDefaultClient(target: ConnectTarget, tls?: TlsFiles): Promise<Client> {
  const [{ Client }, { setDefaultClient }] = await Promise.all([import("../client/client.js"), import("../client/default.js")]);
  const client =
    "schedulerFile" in target
      ? await Client.connect({ schedulerFile: target.schedulerFile, tls, timeout: CLIENT_CONNECT_MS })
      : await Client.connect(target.address, { secret: target.secret, timeout: CLIENT_CONNECT_MS, tls });
  setDefaultClient(client);
  return client;
}

/** Connect the default client, then run `script` as if it were `node script ...args`. */
export async function runClientScript(o: { connect: ConnectTarget; tls?: TlsFiles; script: string; args: string[] }): Promise<void> {
  await connectDefaultClient(o.connect, o.tls);
  const script = path.resolve(o.script);
  process.argv = [process.argv[0]!, script, ...o.args];
  await import(pathToFileURL(script).href);
}

/** `dask-jobqueue-ts why`: the scheduler's "why pending?" answer (client.whyPending), through a short-lived client. */
export async function askWhyPending(schedulerFile: string, key?: string): Promise<import("../protocol/messages-pending.js").WhyPending> {
  const { Client } = await import("../client/client.js");
  const client = await Client.connect({ schedulerFile, timeout: CLIENT_CONNECT_MS });
  try {
    return await client.whyPending(key);
  } finally {
    await client.close();
  }
}
