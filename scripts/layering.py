#!/usr/bin/env python3
"""Structure figures for docs/ARCHITECTURE.md and the restructure issue: imports against the
layering, import cycles between modules, files over 500 lines, and the longest functions.

Layering: each top-level module of src/ has a rank; a `crate::X` reference from a module of lower
rank to one of higher rank runs against the layering. Base modules may be used everywhere and use
no ranked module. Names that no longer exist in the tree are ignored, so the script can be run on
older revisions (`scripts/layering.py PATH/TO/src`).

Cycles: nodes are modules (a file, or a folder's mod.rs, as a path like `workload::trace`); an
edge goes from a module to each module it names (`crate::a::b`, `super::x`); edges between a
module and its own ancestor or descendant are left out (a parent declaring its children and a
child using its parent's items is how Rust modules work). Every strongly connected group of
two or more modules is a cycle.

Comments (doc links included) are not dependencies. Test modules count too.

usage: scripts/layering.py [SRC]
"""
import os
import re
import sys

ORDER = ["workload", "perf", "cost", "metrics", "serving", "fleet", "scenario",
         "sweep", "plan", "fidelity", "calibrate", "validate", "report", "cli"]
BASE = {"error", "input", "named", "stats", "engine", "time", "rng", "catalog", "text", "lib",
        "main"}
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "src")
root = os.path.abspath(root)


def module_path(path):
    rel = os.path.relpath(path, root)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


files = {}
for dirpath, _, names in os.walk(root):
    for f in names:
        if f.endswith(".rs"):
            p = os.path.join(dirpath, f)
            files[module_path(p)] = p
modules = set(files)


def code_of(text):
    return "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))


def resolve(parts):
    """The longest existing module prefix of a path."""
    for n in range(len(parts), 0, -1):
        if tuple(parts[:n]) in modules:
            return tuple(parts[:n])
    return None


bad, long_files, edges, fns = [], [], {}, []
for mod, path in sorted(files.items()):
    text = open(path, encoding="utf-8").read()
    n = text.count("\n")
    rel = os.path.relpath(path, root)
    if n > 500:
        long_files.append((n, rel))
    code = code_of(text)
    top = mod[0] if mod else "lib"
    # Layering.
    uses = set(re.findall(r"crate::([a-z_]+)", code))
    if top in BASE:
        for u in sorted(uses - BASE):
            if u in ORDER:
                bad.append(f"{rel}: base module uses crate::{u}")
    elif top in ORDER:
        for u in sorted(uses):
            if u in ORDER and ORDER.index(u) > ORDER.index(top):
                bad.append(f"{rel}: {top} uses crate::{u}")
    # Module graph.
    out = set()
    for m in re.finditer(r"crate((?:::[a-z_][a-z0-9_]*)+)", code):
        t = resolve(m.group(1).split("::")[1:])
        if t:
            out.add(t)
    for m in re.finditer(r"\b((?:super::)+)((?:[a-z_][a-z0-9_]*::)*[a-zA-Z_][a-zA-Z0-9_]*)", code):
        ups = m.group(1).count("super::")
        # A file's `super` is its parent module (for mod.rs, the folder's parent).
        base = list(mod[:-ups]) if ups <= len(mod) else []
        t = resolve(base + m.group(2).split("::"))
        if t:
            out.add(t)
    edges[mod] = {t for t in out if t != mod and t[:len(mod)] != mod and mod[:len(t)] != t}
    # Functions: from `fn name(` to the matching closing brace.
    for m in re.finditer(r"\bfn\s+([a-z_][a-z0-9_]*)[^;{]*\{", code):
        depth, i = 1, m.end()
        while depth and i < len(code):
            depth += {"{": 1, "}": -1}.get(code[i], 0)
            i += 1
        fns.append((code[m.start():i].count("\n") + 1, f"{rel}: {m.group(1)}"))

# Tarjan's strongly connected components.
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)


def strong(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges.get(v, ()):
        if w not in index:
            strong(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            sccs.append(sorted("::".join(c) for c in comp))


for v in sorted(edges):
    if v not in index:
        strong(v)

for b in bad:
    print(b)
print(f"{len(bad)} imports against the layering")
for c in sccs:
    print("cycle: " + " <-> ".join(c))
print(f"{len(sccs)} import cycles")
for n, f in sorted(long_files, reverse=True):
    print(f"{n:6d} lines  src/{f}")
print(f"{len(long_files)} files over 500 lines")
fns.sort(reverse=True)
for n, f in fns[:5]:
    print(f"{n:6d} lines  fn {f}")
print(f"longest function: {fns[0][0]} lines" if fns else "no functions")
