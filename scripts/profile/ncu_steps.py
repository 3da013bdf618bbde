#!/usr/bin/env python3
"""Device time per decode step from Nsight Compute's CSV, and the kernels of one step.

usage: ncu_steps.py NCU_CSV [NCU_CSV ...]
The CSV comes from (on the GPU machine; kernels serialised, so durations are the kernels'
own, without launch gaps):
  ncu --csv --print-kernel-base function --metrics gpu__time_duration.sum \
      --cache-control none --clock-control none --log-file OUT.csv \
      mlxbench models generate MODEL --ids IDS --max-tokens 6 --warmup 0
A step ends at the greedy argmax kernel (the last kernel of a step, native and mlx-lm).
"""
import collections
import csv
import sys


def kernels(path):
    with open(path) as f:
        rows = [line for line in f if line.startswith('"')]
    for r in csv.DictReader(rows):
        yield r["Kernel Name"], float(r["Metric Value"].replace(",", ""))


for path in sys.argv[1:]:
    steps = [[]]
    for name, ns in kernels(path):
        steps[-1].append((name, ns))
        if "arg_reduce" in name:
            steps.append([])
    steps = [s for s in steps if s]
    print(f"{path}: {sum(map(len, steps))} kernels")
    for i, s in enumerate(steps):
        print(f"  step {i}: {len(s)} kernels, {sum(ns for _, ns in s) / 1e3:.1f} us")
    if len(steps) > 2:
        count, time = collections.Counter(), collections.Counter()
        for name, ns in steps[-2]:
            count[name] += 1
            time[name] += ns
        print("  the last full decode step's kernels:")
        for name in sorted(count, key=lambda k: -time[k]):
            print(f"    {count[name]:4d} {time[name] / 1e3:8.1f} us  {name[:100]}")
