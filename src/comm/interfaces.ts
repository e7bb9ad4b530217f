/**
 * Which IPv4 address to bind and advertise: `--interface NAME`, or by default the address of
 * the interface that carries the default route (so other nodes can reach it), else loopback.
 */
import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { ConfigError } from "../errors.js";

export function interfaceAddress(name: string): string {
  const all = networkInterfaces();
  const addrs = all[name];
  const existing = Object.keys(all).sort().join(", ");
  if (!addrs) throw new ConfigError(`network interface ${JSON.stringify(name)} does not exist; interfaces here: ${existing}`);
  const v4 = addrs.find((a) => a.family === "IPv4");
  if (!v4) throw new ConfigError(`network interface ${JSON.stringify(name)} has no IPv4 address; interfaces here: ${existing}`);
  return v4.address;
}

/** Name of the interface of the default route, from /proc/net/route; undefined if none. */
export function defaultRouteInterface(routeTable?: string): string | undefined {
  let text = routeTable;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/net/route", "utf8");
    } catch {
      return undefined;
    }
  }
  for (const line of text.split("\n").slice(1)) {
    const [iface, destination, , , , , , mask] = line.trim().split(/\s+/);
    if (iface && destination === "00000000" && mask === "00000000") return iface;
  }
  return undefined;
}

/**
 * The host to bind and the host to advertise. With an interface both are its address; with an
 * explicit host, that host; otherwise bind all addresses and advertise the default route's.
 */
export function chooseHost(opts: { interface?: string; host?: string }): { bind: string; advertise: string } {
  if (opts.interface) {
    const a = interfaceAddress(opts.interface);
    return { bind: a, advertise: a };
  }
  if (opts.host) return { bind: opts.host, advertise: opts.host };
  const iface = defaultRouteInterface();
  let advertise = "127.0.0.1";
  if (iface) {
    try {
      advertise = interfaceAddress(iface);
    } catch {
      // a default route through an interface without IPv4: fall back to loopback
    }
  }
  return { bind: "0.0.0.0", advertise };
}
