#!/usr/bin/env bash
# Proves a change leaves every output byte-identical: builds BASE (a git revision, default
# HEAD~1) in a temporary worktree and the working tree here, writes every output of both with
# scripts/outputs.sh, and compares them file by file. Exit status 0 when identical.
#
# By default both binaries read this tree's inputs (examples, traces), so only the code differs.
# With --own-inputs each build reads its own tree's inputs (for a change that also edits the
# examples, e.g. a renamed key): the differing files are listed with `diff` of their lines.
#
# usage: scripts/compare-outputs.sh [--own-inputs] [BASE]
set -euo pipefail
own=0
if [ "${1:-}" = "--own-inputs" ]; then
    own=1
    shift
fi
base=${1:-HEAD~1}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add --detach "$work/base" "$base" >/dev/null
(cd "$work/base" && cargo build --release --quiet --target-dir "$root/target/compare-base")
(cd "$root" && cargo build --release --quiet)
if [ $own = 1 ]; then
    "$work/base/scripts/outputs.sh" "$root/target/compare-base/release/fleetsim" "$work/before"
else
    "$root/scripts/outputs.sh" "$root/target/compare-base/release/fleetsim" "$work/before"
fi
"$root/scripts/outputs.sh" "$root/target/release/fleetsim" "$work/after"
if diff -r -q "$work/before" "$work/after"; then
    echo "identical: $(find "$work/after" -type f | wc -l) files, $base vs the working tree"
else
    if [ $own = 1 ]; then
        diff -r "$work/before" "$work/after" | grep '^[<>]' | cut -c1-160 | sort | uniq -c | sort -rn | head -40 || true
    fi
    echo "DIFFERENT outputs between $base and the working tree (listed above)"
    exit 1
fi
