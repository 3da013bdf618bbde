#!/usr/bin/env bash
# The benchmark history CI keeps between runs (on the gh-pages branch, beside the site):
#
#   HISTORY/<machine>/<scenario>/<utc>.json      one result file per run
#
# <machine> and <scenario> are slugs of the file's machine (chip or CPU, and hostname)
# and scenario name, <utc> its start time (20261202T101500Z). `report HISTORY` trends over
# it and `compare HISTORY NEW` takes each pair's newest run as the baseline.
#
#   scripts/ci/history.sh add HISTORY SRC... [--keep N] [--max-age-days D]
#
# adds every result file under SRC (files or folder trees; a run already there is not
# added twice), then keeps the newest N runs (default 100) of each machine and scenario
# and drops runs older than D days (default: none dropped by age). Files that are not
# mlxbench results are skipped with a message.
set -euo pipefail
[ "${1:-}" = add ] || { echo "usage: history.sh add HISTORY SRC... [--keep N] [--max-age-days D]" >&2; exit 2; }
shift
exec python3 - "$@" <<'PY'
import datetime, json, os, re, shutil, sys

args = sys.argv[1:]
keep, max_age, srcs = 100, None, []
i = 0
while i < len(args):
    if args[i] == "--keep":
        keep = int(args[i + 1]); i += 2
    elif args[i] == "--max-age-days":
        max_age = float(args[i + 1]); i += 2
    else:
        srcs.append(args[i]); i += 1
if len(srcs) < 2 or keep < 1:
    sys.exit("usage: history.sh add HISTORY SRC... [--keep N>=1] [--max-age-days D]")
history, srcs = srcs[0], srcs[1:]

def slug(s):
    s = re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")
    return s[:80] or "unnamed"

def machine(host):
    m = host.get("chip") or host.get("cpu") or "unknown"
    for g in host.get("gpus") or []:
        if g.get("vendor") != "Apple":
            m += " " + g.get("name", "")
    return m + " " + host.get("hostname", "")

def files(src):
    if os.path.isfile(src):
        yield src
    for root, dirs, names in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for n in sorted(names):
            if n.endswith(".json"):
                yield os.path.join(root, n)

added = 0
for src in srcs:
    for f in files(src):
        try:
            with open(f) as fh:
                run = json.load(fh)
            started = datetime.datetime.fromisoformat(run["started_at"].replace("Z", "+00:00"))
            folder = os.path.join(history, slug(machine(run["host"])), slug(run["scenario"]["name"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            print(f"history: skipped {f}: not an mlxbench result file ({e})", file=sys.stderr)
            continue
        dest = os.path.join(folder, started.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + ".json")
        if os.path.exists(dest):
            continue
        os.makedirs(folder, exist_ok=True)
        shutil.copyfile(f, dest + ".part")
        os.replace(dest + ".part", dest)
        added += 1

now = datetime.datetime.now(datetime.timezone.utc)
dropped = 0
for root, dirs, names in os.walk(history):
    runs = sorted(n for n in names if re.fullmatch(r"\d{8}T\d{6}Z\.json", n))
    old = runs[:-keep] if len(runs) > keep else []
    if max_age is not None:
        for n in runs:
            t = datetime.datetime.strptime(n[:-5], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
            if (now - t).total_seconds() > max_age * 86400 and n not in old:
                old.append(n)
    for n in old:
        os.remove(os.path.join(root, n))
        dropped += 1
print(f"history: {added} run(s) added to {history}, {dropped} pruned (keep {keep} per machine and scenario)")
PY
