"""Text stubs (.tbd) of macOS frameworks and system libraries for scripts/ci/darwin_link.sh.

Reads a failed zig link's log: each framework or library it could not find gets a stub
with Apple's install name, and each undefined symbol that belongs to one of them (by its
documented prefix: IOKit's IO*, CoreFoundation's CF*, ...) is exported from that stub.
Any other undefined symbol is a real gap in the link inputs (say, an MLX or mlx-c symbol
that neither libmlx.dylib nor libmlxc.a provides): it is printed and the exit code is 1.

    python3 scripts/ci/tbd_stubs.py LINK_LOG STUB_DIR
"""

import json
import re
import sys
from pathlib import Path

FRAMEWORK = "/System/Library/Frameworks/{0}.framework/Versions/A/{0}"
LIBRARY = {"iconv": "/usr/lib/libiconv.2.dylib", "objc": "/usr/lib/libobjc.A.dylib"}
# symbol prefix (after the leading underscore) -> the framework or library exporting it
OWNERS = [
    (("IO", "kIO"), "IOKit"),
    (("CF", "kCF", "__CF"), "CoreFoundation"),
    (("Sec", "kSec"), "Security"),
    (("SC", "kSC"), "SystemConfiguration"),
    (("iconv", "libiconv"), "lib:iconv"),
    (("objc_", "_objc_", "OBJC_"), "lib:objc"),
]


def owner(symbol):
    name = symbol[1:] if symbol.startswith("_") else symbol
    for prefixes, who in OWNERS:
        if name.startswith(prefixes):
            return who
    return None


def write(stub_dir, who, symbols):
    if who.startswith("lib:"):
        lib = who[4:]
        path = stub_dir / f"lib{lib}.tbd"
        install = LIBRARY.get(lib, f"/usr/lib/lib{lib}.dylib")
    else:
        path = stub_dir / f"{who}.framework" / f"{who}.tbd"
        install = FRAMEWORK.format(who)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "--- !tapi-tbd",
        "tbd-version: 4",
        "targets: [ arm64-macos ]",
        f"install-name: '{install}'",
    ]
    if symbols:
        lines += ["exports:", "  - targets: [ arm64-macos ]", f"    symbols: [ {', '.join(sorted(symbols))} ]"]
    path.write_text("\n".join(lines + ["...", ""]))


def main():
    log = Path(sys.argv[1]).read_text(errors="replace")
    stub_dir = Path(sys.argv[2])
    state_path = stub_dir / "symbols.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    before = json.dumps(state, sort_keys=True)
    for m in re.finditer(r'unable to find system framework "([^"]+)"', log):
        state.setdefault(m.group(1), [])
    for m in re.finditer(r'unable to find dynamic system library "([^"]+)"', log):
        state.setdefault("lib:" + m.group(1), [])
    unknown = set()
    for m in re.finditer(r"undefined symbol: (\S+)", log):
        symbol = m.group(1)
        who = owner(symbol)
        if who is None:
            unknown.add(symbol)
        elif symbol not in state.setdefault(who, []):
            state[who].append(symbol)
    for who, symbols in state.items():
        write(stub_dir, who, symbols)
    state_path.write_text(json.dumps(state, indent=1, sort_keys=True))
    for who, symbols in sorted(state.items()):
        print(f"stub {who}: {len(symbols)} symbols")
    if unknown:
        print("undefined symbols no macOS framework provides (missing link inputs):", file=sys.stderr)
        for s in sorted(unknown):
            print("  " + s, file=sys.stderr)
        return 1
    if json.dumps(state, sort_keys=True) == before:
        print("nothing new to stub: the link fails for another reason", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
