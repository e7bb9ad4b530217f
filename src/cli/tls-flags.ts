/** The TLS flags every launcher takes: all three together, or none (plain tcp://). */
import { type TlsFiles, tlsFiles } from "../comm/tls.js";
import type { FlagSpec, Parsed } from "./args.js";

export const TLS_FLAGS: FlagSpec[] = [
  { name: "tls-cert", type: "string", valueName: "FILE", help: "PEM certificate of this process, signed by the cluster's CA (turns on tls://)" },
  { name: "tls-key", type: "string", valueName: "FILE", help: "PEM private key of --tls-cert" },
  { name: "tls-ca", type: "string", valueName: "FILE", help: "PEM certificate of the CA that peers' certificates must be signed by" },
];

/** The TLS files given, or undefined for none; a partial set fails naming what is missing. */
export function tlsGiven(flags: Parsed["flags"]): TlsFiles | undefined {
  return tlsFiles({ cert: flags["tls-cert"] as string | undefined, key: flags["tls-key"] as string | undefined, ca: flags["tls-ca"] as string | undefined });
}
