/** A real headless browser for page tests: Debian's Chromium driven by playwright-core. */
import { existsSync } from "node:fs";
import { ciMissing, inCi } from "./skip.js";

export const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));

/** Why browser tests cannot run here (undefined: they can). Under CI a missing browser is an error, not a skip. */
export function browserUnavailable(): string | undefined {
  if (CHROMIUM) return undefined;
  const why = "no Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run installs it)";
  if (inCi()) throw ciMissing(why);
  return why;
}

export async function launchBrowser() {
  const { chromium } = await import("playwright-core");
  // root (CI) cannot use Chromium's sandbox
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"], timeout: 30_000 });
}
