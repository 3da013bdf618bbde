#!/usr/bin/env python3
"""Reads scripts/profile/sprof.c's samples and prints where the time went under one frame.

usage: symbolize.py SAMPLES FOCUS [--lib NAME=PATH ...] [--within FRAME] [--top N]

FOCUS is a substring of a symbol (e.g. `eval_impl` for MLX's dispatch, `Model::forward`
for the graph build); only samples with it on the stack count. --within keeps samples
that also have FRAME below it (e.g. `generate::generate`, the decode loop). Modules are
symbolised from the files given with --lib (unstripped copies: the stripped binary that
ran has the same offsets), e.g. --lib libmlx.so=.../mlx/lib/libmlx.so --lib
mlxbench=target/release/mlxbench; others print as their module name.
Prints: inclusive shares of the frames called from FOCUS, the leaf frames, and, under
MLX's `gpu::eval`, the share of each primitive's eval_gpu (host time per operation kind).
"""
import argparse
import bisect
import collections
import subprocess


def load_symbols(path):
    out = subprocess.run(["nm", "-C", "--defined-only", path], capture_output=True, text=True, check=True).stdout
    entries = []
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            entries.append((int(parts[0], 16), parts[2]))
    entries.sort()
    return [a for a, _ in entries], [n for _, n in entries]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("samples")
    ap.add_argument("focus")
    ap.add_argument("--lib", action="append", default=[])
    ap.add_argument("--within")
    ap.add_argument("--top", type=int, default=40)
    a = ap.parse_args()
    tables = {name: load_symbols(path) for name, path in (x.split("=", 1) for x in a.lib)}

    def sym(frame):
        mod, _, off = frame.rpartition("+")
        t = tables.get(mod)
        if not t:
            return mod
        i = bisect.bisect_right(t[0], int(off, 16)) - 1
        return t[1][i][:140] if i >= 0 else mod

    inclusive, leaf, prim = collections.Counter(), collections.Counter(), collections.Counter()
    n = 0
    with open(a.samples) as f:
        for line in f:
            stack = [sym(x) for x in line.split()[1:]]
            if a.within and not any(a.within in s for s in stack):
                continue
            hits = [i for i, s in enumerate(stack) if a.focus in s]
            if not hits:
                continue
            n += 1
            top = hits[-1]
            for s in set(stack[: top + 1]):
                inclusive[s] += 1
            leaf[stack[0]] += 1
            ev = [i for i, s in enumerate(stack[:top]) if s.startswith("mlx::core::gpu::eval(")]
            if ev:
                prim[stack[ev[-1] - 1] if ev[-1] > 0 else "gpu::eval itself"] += 1
    print(f"{n} samples with {a.focus!r} on the stack")
    for title, c in (("inclusive", inclusive), ("leaf", leaf), ("under gpu::eval, by callee", prim)):
        print(f"-- {title}")
        for s, k in c.most_common(a.top):
            print(f"{100 * k / max(n, 1):5.1f}%  {s}")


if __name__ == "__main__":
    main()
