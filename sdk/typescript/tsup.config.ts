import { defineConfig } from "tsup";

// ESM and CommonJS builds with type declarations; dependencies stay external.
export default defineConfig({
  entry: { index: "src/index.ts", playwright: "src/playwright.ts" },
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  target: "es2022",
  platform: "neutral",
  external: ["ws", "@playwright/test"],
});
