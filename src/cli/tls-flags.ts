/** The TLS flags every launcher takes: all three together, or none (plain tcp://). */
import type { TlsFiles } from "../comm/tls.js";
import { ConfigError } from "../errors.js";
import type { FlagSpec, Parsed } from "./args.js";

export const TLS_FLAGS: FlagSpec[] = [
  { name: "tls-cert", type: "string", valueName: "FILE", help: "PEM certificate of this process, signed by the cluster's CA (turns on tls://)" },
  { name: "tls-key", type: "string", valueName: "FILE", help: "PEM private key of --tls-cert" },
  { name: "tls-ca", type: "string", valueName: "FILE", help: "PEM certificate of the CA that peers' certificates must be signed by" },
];

/** The TLS files given, or undefined for none; a partial set fails naming what is missing. */
export function tlsGiven(flags: Parsed["flags"]): TlsFiles | undefined {
  const files = { cert: flags["tls-cert"], key: flags["tls-key"], ca: flags["tls-ca"] } as Record<keyof TlsFiles, string | undefined>;
  const missing = TLS_FLAGS.filter((f) => flags[f.name] === undefined).map((f) => `--${f.name}`);
  if (missing.length === 3) return undefined;
  if (missing.length) throw new ConfigError(`TLS needs --tls-cert, --tls-key and --tls-ca together; missing ${missing.join(", ")}`);
  return files as TlsFiles;
}
