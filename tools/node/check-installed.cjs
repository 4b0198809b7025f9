// Exits 1 when node_modules lacks a dependency of package.json at its pinned version, so .ci/services.sh reinstalls
// from the lock in a checkout whose node_modules predates a package added later. Extra packages are not a problem.
//   node tools/node/check-installed.cjs tools/node
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const dir = process.argv[2] ?? __dirname;
const wanted = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).dependencies ?? {};
const stale = [];
for (const [name, spec] of Object.entries(wanted)) {
  let installed;
  try {
    installed = JSON.parse(fs.readFileSync(path.join(dir, "node_modules", name, "package.json"), "utf8")).version;
  } catch {
    stale.push(`${name} missing`);
    continue;
  }
  // Dependencies here are pinned exactly; a range only has to be present.
  if (/^\d+\.\d+\.\d+$/.test(spec) && installed !== spec) {
    stale.push(`${name} ${installed} installed, ${spec} pinned`);
  }
}
if (stale.length > 0) {
  console.error(`node_modules is out of date: ${stale.join("; ")}`);
  process.exit(1);
}
