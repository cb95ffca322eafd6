// Runs a TypeScript example read from stdin (docs' ```ts blocks): its types are stripped with
// the TypeScript compiler's own transpiler, and the module runs from this folder, so that it
// imports the packages installed here.
import { readFileSync, writeFileSync, rmSync } from "node:fs";
import { pathToFileURL } from "node:url";
import ts from "typescript";

const source = readFileSync(0, "utf8");
const { outputText } = ts.transpileModule(source, {
  compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
});
const file = new URL(`./.example-${process.pid}.mjs`, import.meta.url);
writeFileSync(file, outputText);
try {
  await import(pathToFileURL(file.pathname).href);
} finally {
  rmSync(file);
}
