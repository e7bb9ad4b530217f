/** What every coordination primitive shares: its name, its client (given, or the default one), and how it names itself in errors. */
import { randomUUID } from "node:crypto";
import { ConfigError } from "../errors.js";
import type { Client } from "./client.js";
import { getClient } from "./default.js";
import { type SharedHost, checkName } from "./shared.js";

export interface PrimitiveOptions {
  /** The client to use (default: getClient(), the program's or the task's client). */
  client?: Client;
}

export abstract class Primitive {
  /** Its name on the scheduler: objects of the same kind and name are the same primitive. */
  readonly name: string;
  readonly client: Client;
  /** How errors name it: `Lock "name"`. @internal */
  readonly what: string;

  constructor(kind: string, name: string | undefined, options: PrimitiveOptions = {}) {
    this.name = name === undefined ? randomUUID() : checkName(kind, name);
    this.what = `${kind} ${JSON.stringify(this.name)}`;
    if (options.client) this.client = options.client;
    else {
      try {
        this.client = getClient();
      } catch (err) {
        throw new ConfigError(`${this.what}: no client given and ${(err as Error).message}`, { cause: err });
      }
    }
  }

  /** @internal */
  get host(): SharedHost {
    return this.client;
  }
}
