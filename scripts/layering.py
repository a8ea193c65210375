#!/usr/bin/env python3
"""Counts imports that run against the pipeline's layering (docs/ARCHITECTURE.md, issue 13).

Each top-level module of src/ has a rank; a `crate::X` reference from a module of lower rank to a
module of higher rank runs against the layering. The base modules (error, input, named, stats,
engine, time, rng, catalog, text) may be used everywhere. Prints each such import and the count, and
lists the files over 500 lines. Test modules count too (a test importing a later stage is still
a dependency the layout should not need).

usage: scripts/layering.py
"""
import os
import re
import sys

# cost and metrics come before serving: pricing needs only the catalog and the workload, and the
# replica writes what it does into the metrics recorder (docs/ARCHITECTURE.md, "The pipeline").
ORDER = ["workload", "perf", "cost", "metrics", "serving", "fleet", "scenario",
         "sweep", "plan", "calibrate", "validate", "report", "cli"]
BASE = {"error", "input", "named", "stats", "engine", "time", "rng", "catalog", "text", "lib",
        "main"}
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(path):
    rel = os.path.relpath(path, root)
    return rel.split(os.sep)[0].removesuffix(".rs")


bad = []
long_files = []
for dirpath, _, files in os.walk(root):
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(dirpath, f)
        text = open(path, encoding="utf-8").read()
        n = text.count("\n")
        # Comments (doc links included) are not dependencies.
        text = "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))
        if n > 500:
            long_files.append((n, os.path.relpath(path, root)))
        me = module_of(path)
        if me in BASE or me not in ORDER:
            if me in BASE:
                uses = set(re.findall(r"crate::([a-z_]+)", text)) - BASE
                for u in sorted(uses):
                    bad.append(f"{os.path.relpath(path, root)}: base module uses crate::{u}")
            continue
        for u in sorted(set(re.findall(r"crate::([a-z_]+)", text))):
            if u in BASE or u == me or u not in ORDER:
                continue
            if ORDER.index(u) > ORDER.index(me):
                bad.append(f"{os.path.relpath(path, root)}: {me} uses crate::{u}")
for b in bad:
    print(b)
print(f"{len(bad)} imports against the layering")
for n, f in sorted(long_files, reverse=True):
    print(f"{n:6d} lines  src/{f}")
print(f"{len(long_files)} files over 500 lines")
sys.exit(0)
