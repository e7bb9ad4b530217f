/** The dashboard's address flag, checked where it is given (no HTTP loaded for that). */
import { ConfigError } from "../errors.js";

/** `:8787`, `8787` or `host:8787` -> host ("" = the scheduler's) and port. */
export function parseDashboardAddress(text: string): { host: string; port: number } {
  const m = /^(?:(.*):)?(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port < 65536) || /\s|\//.test(m[1] ?? "")) {
    throw new ConfigError(`dashboard address must look like :8787 or host:8787, got ${JSON.stringify(text)}`);
  }
  return { host: (m[1] ?? "").replace(/^\[|\]$/g, ""), port };
}
