// The layering of docs/ARCHITECTURE.md, enforced with no exceptions: dependency-cruiser checks
// src/ against .dependency-cruiser.cjs, and no source file grows past 600 lines. Protects: no
// import against the arrows (a role importing another role or the configuration, a pure core
// importing I/O, the scheduler importing an extension, the light entry importing role code, a
// cycle...) and no oversized file.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type ICruiseResult, cruise } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const MAX_LINES = 600;

/** One line per violation, as dependency-cruiser's `err` reporter names it. */
const describe1 = (v: { from: string; to: string; rule: { name: string }; cycle?: Array<{ name: string } | string> }) =>
  `${v.rule.name}: ${v.from} -> ${v.cycle ? v.cycle.map((c) => (typeof c === "string" ? c : c.name)).join(" -> ") : v.to}`;

describe("architecture", function () {
  this.timeout(120_000);
  let result: ICruiseResult;

  before(async () => {
    const options = await extractDepcruiseOptions(path.join(ROOT, ".dependency-cruiser.cjs"));
    const tsConfig = extractTSConfig(path.join(ROOT, "tsconfig.json"));
    const out = await cruise(["src"], { ...options, baseDir: ROOT, validate: true, knownViolations: [] }, {}, { tsConfig });
    result = out.output as ICruiseResult;
  });

  it("src/ follows the layering rules (see docs/ARCHITECTURE.md)", () => {
    const errors = result.summary.violations.filter((v) => v.rule.severity === "error");
    assert.deepEqual(errors.map(describe1), [], "violations of .dependency-cruiser.cjs");
  });

  it(`no file in src/ is over ${MAX_LINES} lines`, () => {
    const over: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
        const rel = `${dir}/${e.name}`;
        if (e.isDirectory()) walk(rel);
        else if (rel.endsWith(".ts")) {
          const lines = readFileSync(path.join(ROOT, rel), "utf8").split("\n").length - 1;
          if (lines > MAX_LINES) over.push(`${rel}: ${lines} lines`);
        }
      }
    };
    walk("src");
    assert.deepEqual(over, []);
  });
});
