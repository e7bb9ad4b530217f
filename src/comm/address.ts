/** Addresses: the scheme of any (`tcp://`, `tls://`, `inproc://`), and host:port ones parsed and formatted. */
import { ConfigError } from "../errors.js";

/** `tcp://a:1` -> "tcp"; a bare `host:port` is tcp. Other schemes are returned as written (the registry knows them). */
export function schemeOf(address: string): string {
  if (typeof address !== "string") throw new ConfigError(`an address must be a string, got ${JSON.stringify(address)}`);
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(address);
  return m ? m[1]!.toLowerCase() : "tcp";
}

export interface HostPort {
  scheme: "tcp" | "tls";
  host: string;
  port: number;
}

export function parseAddress(address: string): HostPort {
  const m = /^(?:(tcp|tls):\/\/)?(\[[0-9a-fA-F:]+\]|[^:/\s]+):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port > 0 && port < 65536)) {
    throw new ConfigError(`address must look like tcp://host:port or tls://host:port, got ${JSON.stringify(address)}`);
  }
  return { scheme: m[1] === "tls" ? "tls" : "tcp", host: m[2]!.replace(/^\[|\]$/g, ""), port };
}

export function formatAddress(host: string, port: number, scheme: "tcp" | "tls" = "tcp"): string {
  return `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`;
}
