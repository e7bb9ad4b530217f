/**
 * TLS for `tls://` addresses (DESIGN.md section 3): each end presents a certificate signed by
 * the cluster's CA and checks the other's against it (mutual verification). Host names are not
 * checked, as in Dask: compute nodes are reached by whatever address they advertise, and trust
 * comes from the CA. The secret handshake still runs inside the encrypted connection.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "../errors.js";

/** Paths of PEM files, as given by --tls-cert, --tls-key and --tls-ca. */
export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

/** The loaded PEM material; what connections are made with. */
export interface TlsContext {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

const FLAG = { cert: "--tls-cert", key: "--tls-key", ca: "--tls-ca" } as const;

/** All three files, or none (undefined: plain tcp://); a partial set fails naming what is missing. */
export function tlsFiles(files: Partial<TlsFiles>): TlsFiles | undefined {
  const keys = Object.keys(FLAG) as Array<keyof TlsFiles>;
  const missing = keys.filter((k) => !files[k]).map((k) => FLAG[k]);
  if (missing.length === keys.length) return undefined;
  if (missing.length) throw new ConfigError(`TLS needs --tls-cert, --tls-key and --tls-ca together; missing ${missing.join(", ")}`);
  return files as TlsFiles;
}

/**
 * Check a chosen protocol (`--protocol`, `protocol:`) against the TLS files: "tls" needs them,
 * "tcp" refuses them; not chosen, the files decide. Throws ConfigError naming the mismatch.
 */
export function protocolTls(protocol: unknown, files: TlsFiles | undefined): void {
  if (protocol === undefined) return;
  if (protocol !== "tcp" && protocol !== "tls") throw new ConfigError(`protocol must be tcp or tls, got ${JSON.stringify(protocol) ?? String(protocol)}`);
  if (protocol === "tls" && !files) throw new ConfigError("protocol tls needs the cluster's certificates: --tls-cert, --tls-key and --tls-ca (tls: { cert, key, ca })");
  if (protocol === "tcp" && files) throw new ConfigError("protocol tcp contradicts the TLS certificates given (--tls-cert, --tls-key, --tls-ca turn on tls://): drop one or the other");
}

/** Read the three files, failing with the flag and path of one that is missing or not PEM. */
export function loadTls(given: Partial<TlsFiles>): TlsContext {
  const files = tlsFiles(given);
  if (!files) throw new ConfigError("TLS needs --tls-cert, --tls-key and --tls-ca together; none was given");
  const read = (which: keyof TlsFiles): Buffer => {
    const file = files[which];
    let pem: Buffer;
    try {
      pem = readFileSync(file);
    } catch (err) {
      throw new ConfigError(`${FLAG[which]} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    if (!pem.includes("-----BEGIN ")) throw new ConfigError(`${FLAG[which]} ${file}: not a PEM file`);
    return pem;
  };
  return { cert: read("cert"), key: read("key"), ca: read("ca") };
}

/** TLS options of both ends: our certificate, and only peers the CA signed. */
export function tlsOptions(ctx: TlsContext) {
  return {
    cert: ctx.cert,
    key: ctx.key,
    ca: ctx.ca,
    rejectUnauthorized: true,
    checkServerIdentity: () => undefined,
    minVersion: "TLSv1.2" as const,
  };
}
