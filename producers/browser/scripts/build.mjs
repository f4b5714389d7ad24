// Bundles the SDK and its tests, and keeps the size budget:
//   dist/index.js            ESM for bundlers (npm `import`), with dist/*.d.ts from tsc
//   dist/interactions.min.js IIFE for a <script> tag: window.Interactions
//   .test-build/*.test.js    the node --test files (test/*.test.ts, bundled with the sources)
// The minified IIFE gzipped must stay under BUDGET_BYTES, or the build fails (CI runs it).
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

export const BUDGET_BYTES = 6144;
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const at = (...p) => join(root, ...p);

rmSync(at("dist"), { recursive: true, force: true });
rmSync(at(".test-build"), { recursive: true, force: true });
const common = { entryPoints: [at("src/index.ts")], bundle: true, target: "es2020", logLevel: "warning" };
await build({ ...common, format: "esm", outfile: at("dist/index.js") });
await build({
  ...common,
  format: "iife",
  globalName: "Interactions",
  minify: true,
  outfile: at("dist/interactions.min.js"),
});
execFileSync(process.execPath, [at("node_modules/typescript/bin/tsc"), "-p", at("tsconfig.json")], {
  stdio: "inherit",
});
const tests = readdirSync(at("test")).filter((f) => f.endsWith(".test.ts"));
await build({
  entryPoints: tests.map((f) => at("test", f)),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outdir: at(".test-build"),
  logLevel: "warning",
});

const min = readFileSync(at("dist/interactions.min.js"));
const gz = gzipSync(min, { level: 9 }).length;
console.log(`dist/interactions.min.js: ${min.length} bytes minified, ${gz} bytes gzipped (budget ${BUDGET_BYTES})`);
if (gz > BUDGET_BYTES) {
  console.error(`over the size budget by ${gz - BUDGET_BYTES} bytes`);
  process.exit(1);
}
