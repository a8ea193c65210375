#!/usr/bin/env bash
# Writes every output file fleetsim makes for the shipped examples, the default sweep, a plan and
# `validate` into OUT, using the binary BIN, from the repository root. Standard output of each
# command goes to OUT/<name>.stdout (no wall-clock figure is printed there; timings go to
# stderr, which is discarded). Used by scripts/compare-outputs.sh to prove a restructure
# changes no output.
#
# usage: scripts/outputs.sh BIN OUT
set -euo pipefail
bin=$(realpath "$1")
out=$(realpath -m "$2")
cd "$(dirname "$0")/.."
rm -rf "$out"
mkdir -p "$out"
go() { # go NAME ARGS...: run fleetsim ARGS with --out OUT/NAME
    local name=$1
    shift
    "$bin" "$@" --out "$out/$name" 2>/dev/null | sed "s|$out|OUT|g" >"$out/$name.stdout"
    # The sweep journal is in the order points finish; its content is what must not change.
    if [ -f "$out/$name/points.jsonl" ]; then
        sort -o "$out/$name/points.jsonl" "$out/$name/points.jsonl"
    fi
}
for ex in examples/*.json; do
    name=$(basename "$ex" .json)
    case "$name" in
    size-before-buying | gpt-oss-plan) go "plan-$name" plan "$ex" ;;
    default-sweep | prefix-heavy | prefix-heavy-no-cache) go "sweep-$name" sweep "$ex" ;;
    *)
        go "run-$name" run "$ex"
        go "sweep-$name" sweep "$ex" --replicas 1,2
        ;;
    esac
done
go sweep-default sweep
go plan-default plan examples/default-sweep.json --volumes 0.25..1 --gpus h100-sxm,a100-80gb
go validate validate
"$bin" catalog --json >"$out/catalog.json"
echo "wrote $(find "$out" -type f | wc -l) files to $out"
