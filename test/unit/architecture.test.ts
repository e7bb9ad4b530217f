// The layering of docs/ARCHITECTURE.md, enforced: dependency-cruiser checks src/ against
// .dependency-cruiser.cjs, and no source file grows past 600 lines. Protects: no new import
// against the arrows (a role importing another role or the configuration, a pure core importing
// I/O, a cycle...) and no new oversized file. The violations still left from before the issue-13
// refactor are listed in test/architecture/known/P*.json, one file per package that removes them
// (by owner of the importing file); a package deletes its entries as it fixes them, and an entry
// that no longer occurs fails the test too, so the lists only shrink.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type ICruiseOptions, type ICruiseResult, cruise } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const KNOWN_DIR = path.join(ROOT, "test/architecture/known");
const MAX_LINES = 600;

interface KnownList {
  owner: string;
  overLineCap: string[];
  violations: NonNullable<ICruiseOptions["knownViolations"]>;
}

const known: Array<KnownList & { file: string }> = readdirSync(KNOWN_DIR)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => ({ file: `test/architecture/known/${f}`, ...(JSON.parse(readFileSync(path.join(KNOWN_DIR, f), "utf8")) as KnownList) }));

/** One line per violation, as dependency-cruiser's `err` reporter names it. */
const describe1 = (v: { from: string; to: string; rule: { name: string }; cycle?: Array<{ name: string } | string> }) =>
  `${v.rule.name}: ${v.from} -> ${v.cycle ? v.cycle.map((c) => (typeof c === "string" ? c : c.name)).join(" -> ") : v.to}`;

describe("architecture", function () {
  this.timeout(120_000);
  let result: ICruiseResult;

  before(async () => {
    const options = await extractDepcruiseOptions(path.join(ROOT, ".dependency-cruiser.cjs"));
    const knownViolations = known.flatMap((k) => k.violations);
    const tsConfig = extractTSConfig(path.join(ROOT, "tsconfig.json"));
    const out = await cruise(["src"], { ...options, baseDir: ROOT, validate: true, knownViolations }, {}, { tsConfig });
    result = out.output as ICruiseResult;
  });

  it("src/ follows the layering rules (no violation beyond the known lists)", () => {
    const fresh = result.summary.violations.filter((v) => v.rule.severity === "error");
    assert.deepEqual(fresh.map(describe1), [], "new violations of .dependency-cruiser.cjs (see docs/ARCHITECTURE.md)");
  });

  it("every known violation still occurs (delete the entries a package fixed)", () => {
    const now = new Set(result.summary.violations.map(describe1));
    const stale = known.flatMap((k) => k.violations.map((v) => `${k.file}: ${describe1(v)}`).filter((line) => !now.has(line.slice(line.indexOf(": ") + 2))));
    assert.deepEqual(stale, []);
  });

  it(`no file in src/ is over ${MAX_LINES} lines, but those listed`, () => {
    const allowed = new Map(known.flatMap((k) => k.overLineCap.map((f) => [f, k.file] as const)));
    const over: string[] = [];
    const stale: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
        const rel = `${dir}/${e.name}`;
        if (e.isDirectory()) walk(rel);
        else if (rel.endsWith(".ts")) {
          const lines = readFileSync(path.join(ROOT, rel), "utf8").split("\n").length - 1;
          if (lines > MAX_LINES && !allowed.has(rel)) over.push(`${rel}: ${lines} lines`);
          if (lines <= MAX_LINES && allowed.has(rel)) stale.push(`${rel} is ${lines} lines now: delete it from ${allowed.get(rel)}`);
        }
      }
    };
    walk("src");
    for (const [f, list] of allowed) {
      try {
        readFileSync(path.join(ROOT, f));
      } catch {
        stale.push(`${f} does not exist: delete it from ${list}`);
      }
    }
    assert.deepEqual(over, [], `files over ${MAX_LINES} lines: split them`);
    assert.deepEqual(stale, []);
  });
});
