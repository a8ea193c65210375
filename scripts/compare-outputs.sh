#!/usr/bin/env bash
# Proves a change leaves every output byte-identical: builds BASE (a git revision, default
# HEAD~1) in a temporary worktree and the working tree here, writes every output of both with
# scripts/outputs.sh, and compares them file by file. Exit status 0 when identical.
#
# usage: scripts/compare-outputs.sh [BASE]
set -euo pipefail
base=${1:-HEAD~1}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add --detach "$work/base" "$base" >/dev/null
(cd "$work/base" && cargo build --release --quiet --target-dir "$root/target/compare-base")
(cd "$root" && cargo build --release --quiet)
# Both binaries run from this tree, so the inputs (examples, traces) are the same files.
"$root/scripts/outputs.sh" "$root/target/compare-base/release/fleetsim" "$work/before"
"$root/scripts/outputs.sh" "$root/target/release/fleetsim" "$work/after"
if diff -r -q "$work/before" "$work/after"; then
    echo "identical: $(find "$work/after" -type f | wc -l) files, $base vs the working tree"
else
    echo "DIFFERENT outputs between $base and the working tree (listed above)"
    exit 1
fi
