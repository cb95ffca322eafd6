import { defineConfig } from "@playwright/test";

// Debian's Chromium, headless; Playwright's own browser downloads are not needed.
export default defineConfig({
  testDir: ".",
  reporter: "line",
  timeout: 60_000,
  use: {
    browserName: "chromium",
    headless: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    },
  },
});
