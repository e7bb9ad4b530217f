/** A real headless browser for page tests: Debian's Chromium driven by playwright-core. */
import { existsSync } from "node:fs";

export const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));

/** Why browser tests cannot run here (undefined: they can). Under CI a missing browser is an error, not a skip. */
export function browserUnavailable(): string | undefined {
  if (CHROMIUM) return undefined;
  if (process.env.CI) throw new Error("CI=true but no Chromium at /usr/bin/chromium: .ci/run must install it (apt-get install chromium)");
  return "no Chromium here (apt-get install chromium)";
}

export async function launchBrowser() {
  const { chromium } = await import("playwright-core");
  // root (CI) cannot use Chromium's sandbox
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"], timeout: 30_000 });
}
