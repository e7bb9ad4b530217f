/**
 * A small flag parser that stops at the first positional argument: everything after it
 * belongs to the user's script (`dask-mpi-ts [flags] app.js --input data/`).
 * Every flag has help text; unknown flags and bad values fail with a message naming them.
 */
import type { LevelWithSilent } from "pino";
import { ConfigError } from "../errors.js";
import { LOG_LEVELS } from "../log.js";

export interface FlagSpec {
  name: string;
  /** string flags take a value (`--x v` or `--x=v`); boolean flags may be negated with --no-x */
  type: "string" | "boolean";
  help: string;
  valueName?: string;
  /** Only for flags that are not configuration keys (those default to the key's value). */
  default?: string | boolean;
  /** The configuration key this flag overrides, shown in --help as `[key]`. */
  config?: string;
}

export interface Parsed {
  flags: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export function parseFlags(argv: string[], specs: FlagSpec[], opts: { stopAtPositional: boolean }): Parsed {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const flags: Parsed["flags"] = {};
  for (const s of specs) if (s.default !== undefined) flags[s.name] = s.default;
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (opts.stopAtPositional) {
        positionals.push(...argv.slice(i));
        break;
      }
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    let name = (eq >= 0 ? arg.slice(0, eq) : arg).replace(/^--?/, "");
    if (arg === "-h") name = "help";
    let spec = byName.get(name);
    let negated = false;
    if (!spec && name.startsWith("no-")) {
      spec = byName.get(name.slice(3));
      negated = spec?.type === "boolean";
      if (!negated) spec = undefined;
    }
    if (!spec) throw new ConfigError(`unknown flag ${JSON.stringify(arg)}; see --help`);
    if (spec.type === "boolean") {
      if (eq >= 0) throw new ConfigError(`flag --${name} takes no value, got ${JSON.stringify(arg)}`);
      flags[spec.name] = !negated;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[++i];
      if (value === undefined) throw new ConfigError(`flag --${name} needs a value`);
    }
    flags[spec.name] = value;
  }
  return { flags, positionals };
}

export function helpText(usage: string, description: string, specs: FlagSpec[]): string {
  const rows = specs.map((s) => {
    const left = s.type === "boolean" ? (s.default === true ? `--${s.name} / --no-${s.name}` : `--${s.name}`) : `--${s.name} ${s.valueName ?? "VALUE"}`;
    const def = s.config ? ` [${s.config}]` : s.default !== undefined && s.type === "string" ? ` (default ${s.default})` : "";
    return { left, right: s.help + def };
  });
  const width = Math.max(...rows.map((r) => r.left.length)) + 2;
  return [`usage: ${usage}`, "", description, "", "options:", ...rows.map((r) => `  ${r.left.padEnd(width)}${r.right}`), ""].join("\n");
}

/** A positive integer flag value, or a ConfigError naming the flag and the value. */
export function positiveInt(value: string | boolean | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n > 0)) throw new ConfigError(`--${flag} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

/** A port number (0 = random). */
export function portNumber(value: string | boolean | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 0 && n < 65536)) throw new ConfigError(`--${flag} must be a port number from 0 to 65535, got ${JSON.stringify(value)}`);
  return n;
}

/** A --log-level value. */
export function logLevel(value: string | boolean | undefined, flag = "log-level"): LevelWithSilent | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new ConfigError(`--${flag} must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value as LevelWithSilent;
}

/** `--log-format json|pretty`. */
export function logFormat(value: string | boolean | undefined): "json" | "pretty" | undefined {
  if (value === undefined) return undefined;
  if (value !== "json" && value !== "pretty") throw new ConfigError(`--log-format must be json or pretty, got ${JSON.stringify(value)}`);
  return value;
}

/** `--resources "GPU=2,MEM=1e9"` (or space-separated) -> { GPU: 2, MEM: 1e9 }. */
export function resources(value: string | boolean | undefined, flag = "resources"): Record<string, number> | undefined {
  if (value === undefined) return undefined;
  const out: Record<string, number> = {};
  for (const item of String(value).split(/[,\s]+/).filter(Boolean)) {
    const m = /^([A-Za-z_][\w-]*)=(\d+(?:\.\d+)?(?:e\d+)?)$/.exec(item);
    if (!m) throw new ConfigError(`--${flag} takes NAME=NUMBER pairs like GPU=2, got ${JSON.stringify(item)}`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** A memory threshold: a fraction in (0, 1], or false to turn it off. */
export function fraction(value: string | boolean | undefined, flag: string): number | false | undefined {
  if (value === undefined) return undefined;
  if (value === "false" || value === false) return false;
  const n = typeof value === "string" && /^(0?\.\d+|1(\.0*)?)$/.test(value) ? Number(value) : NaN;
  if (!(n > 0 && n <= 1)) throw new ConfigError(`--${flag} must be a fraction between 0 and 1 or false, got ${JSON.stringify(value)}`);
  return n;
}
