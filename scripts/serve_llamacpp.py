#!/usr/bin/env python3
"""Run llama.cpp's real HTTP server (through the xllamacpp wheel) on one GGUF model.

Used by scenarios' `launch` and by the end-to-end tests. The process serves until it
receives SIGTERM or SIGINT, then exits 0.
"""
import argparse
import signal
import sys
import threading


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True, help="path to a .gguf file")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--alias", default="smollm2", help="model name the API answers to")
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=0, help="0: all cores")
    ap.add_argument("--parallel", type=int, default=1, help="server slots")
    args = ap.parse_args()

    try:
        import xllamacpp as xlc
    except ImportError:
        print("xllamacpp is not installed: run scripts/setup.sh", file=sys.stderr)
        return 2

    params = xlc.CommonParams()
    params.model.path = args.model
    params.hostnames = [args.host]
    params.port = args.port
    params.n_ctx = args.ctx * max(1, args.parallel)
    params.n_parallel = args.parallel
    params.model_alias = [args.alias]
    if args.threads > 0:
        params.cpuparams.n_threads = args.threads
        params.cpuparams_batch.n_threads = args.threads

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = xlc.Server(params)  # starts serving in background threads
    print(f"serving {args.model} as '{args.alias}' on http://{args.host}:{args.port}", flush=True)
    stop.wait()
    del server
    return 0


if __name__ == "__main__":
    sys.exit(main())
