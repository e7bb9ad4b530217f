/** `tcp://host:port` addresses: parse and format. */
import { ConfigError } from "../errors.js";

export interface HostPort {
  scheme: "tcp";
  host: string;
  port: number;
}

export function parseAddress(address: string): HostPort {
  const m = /^(?:(tcp):\/\/)?(\[[0-9a-fA-F:]+\]|[^:/\s]+):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port > 0 && port < 65536)) {
    throw new ConfigError(`scheduler address must look like tcp://host:port, got ${JSON.stringify(address)}`);
  }
  return { scheme: "tcp", host: m[2]!.replace(/^\[|\]$/g, ""), port };
}

export function formatAddress(host: string, port: number): string {
  return `tcp://${host.includes(":") ? `[${host}]` : host}:${port}`;
}
