/**
 * Test hosts on one machine: Linux network namespaces, each with its own interfaces and
 * addresses, joined by veth pairs to bridges in the root namespace. Two networks, like an HPC
 * node's: "fast0" (the high-speed network, e.g. ib0) on every host, "mgmt0" (a management
 * network) only on the hosts given it. Addresses live inside the namespaces only. Needs root
 * and `ip netns`; without them the tests skip, or in CI fail (skipIf in helpers/skip.ts).
 */
import { execFileSync } from "node:child_process";

export interface TestHost {
  name: string;
  ns: string;
  fast: string;
  mgmt?: string;
}

export interface TestNetwork {
  hosts: Record<string, TestHost>;
  /** argv prefix that runs a command on `host` */
  on(host: string): string[];
  remove(): void;
}

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe", timeout: 10_000 });

/** Why these tests cannot run here, or undefined when they can (root and `ip netns` work). */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "network namespaces need root";
  const probe = `dmt-probe-${process.pid}`;
  try {
    ip("netns", "add", probe);
    ip("netns", "del", probe);
    return undefined;
  } catch (err) {
    return `ip netns is not permitted here: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  }
}

/**
 * Hosts by name; `mgmt` lists those that also get the management network. The last host
 * gets a default route through fast0 (so "no --interface" has a default route to follow);
 * the others reach only the networks they are on.
 */
export function createNetwork(names: string[], opts: { mgmt: string[] }): TestNetwork {
  const id = (process.pid % 10_000).toString(36);
  const net = (n: number) => `10.${77 + (process.pid % 100)}.${n}`;
  const bridges = { fast: `bf${id}`, mgmt: `bm${id}` };
  const hosts: Record<string, TestHost> = {};
  const remove = () => {
    for (const h of Object.values(hosts)) {
      try {
        ip("netns", "del", h.ns);
      } catch {
        // not created
      }
    }
    for (const b of Object.values(bridges)) {
      try {
        ip("link", "del", b);
      } catch {
        // not created
      }
    }
  };
  // leftovers of an earlier run killed before its cleanup (same pid, same names)
  names.forEach((name, i) => (hosts[name] = { name, ns: `dmt-${id}-${name}`, fast: `${net(1)}.${i + 1}` }));
  remove();
  try {
    for (const b of Object.values(bridges)) {
      ip("link", "add", b, "type", "bridge");
      ip("link", "set", b, "up");
    }
    names.forEach((name, i) => {
      const ns = `dmt-${id}-${name}`;
      ip("netns", "add", ns);
      ip("-n", ns, "link", "set", "lo", "up");
      const host: TestHost = { name, ns, fast: `${net(1)}.${i + 1}` };
      hosts[name] = host;
      const attach = (kind: "fast" | "mgmt", address: string) => {
        const outside = `${kind[0]}${id}${i}`;
        ip("link", "add", outside, "type", "veth", "peer", "name", `${kind}0`, "netns", ns);
        ip("link", "set", outside, "master", bridges[kind], "up");
        ip("-n", ns, "addr", "add", `${address}/24`, "dev", `${kind}0`);
        ip("-n", ns, "link", "set", `${kind}0`, "up");
      };
      attach("fast", host.fast);
      if (opts.mgmt.includes(name)) attach("mgmt", (host.mgmt = `${net(2)}.${i + 1}`));
      if (i === names.length - 1) ip("-n", ns, "route", "add", "default", "dev", "fast0");
    });
  } catch (err) {
    remove();
    throw err;
  }
  return { hosts, on: (host) => ["ip", "netns", "exec", hosts[host]!.ns], remove };
}
