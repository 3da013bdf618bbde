#!/usr/bin/env python3
"""Checks mlxbench's NVIDIA energy figures against nvidia-smi on a machine with a GPU.

nvidia-smi samples the GPU's instantaneous power draw every 20 ms while mlxbench runs a
scenario; each request's `energy_j` (NVML's energy counter) is compared with nvidia-smi's
power integrated over the same request. Two targets:
- default: a small OpenAI-compatible server streams tokens, each made of real GPU work
  (bf16 matrix products with PyTorch), and records when each request began and ended;
- `--mlx MODEL`: an `mlx` target, the model decoded in-process by MLX's CUDA library; a
  request's span is its `sent_at` and `e2e_ms` from the result file.
Prints one JSON line and exits 1 when a request is off by more than the tolerance.

usage: gpu_energy_check.py MLXBENCH OUT_DIR [--tolerance 0.15] [--mlx MODEL_DIR]
"""
import argparse
import datetime
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SPANS = []  # (start, end) wall-clock seconds of each completion request
A = B = None


def token_work(n=12):
    """One token's worth of GPU work: `n` 8192^2 bf16 products, waited for."""
    import torch
    for _ in range(n):
        torch.matmul(A, B)
    torch.cuda.synchronize()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, code, body, ctype="application/json"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [{"id": "gpu-burn", "object": "model"}]}))
        else:
            self._send(404, "{}")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        start = time.time()
        tokens = int(req.get("max_tokens", 32))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for i in range(tokens):
            token_work()
            chunk = {"choices": [{"index": 0, "text": f" t{i}", "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        usage = {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": tokens}}
        self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()
        SPANS.append((start, time.time()))
        self.close_connection = True


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_power(path):
    """nvidia-smi's samples: (wall-clock seconds, watts)."""
    out = []
    for line in open(path):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2:
            continue
        try:
            t = datetime.datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
            out.append((t, float(parts[1])))
        except ValueError:
            continue
    return out


def integrate(samples, t0, t1):
    """Joules over [t0, t1] from (time, watts) samples, each held until the next."""
    j = 0.0
    for (ta, w), (tb, _) in zip(samples, samples[1:]):
        lo, hi = max(ta, t0), min(tb, t1)
        if hi > lo:
            j += w * (hi - lo)
    return j


def start_burn_server():
    """The PyTorch server; returns its target table."""
    global A, B
    import torch
    A = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    B = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    token_work(50)  # kernels loaded, clocks up
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = f'[[targets]]\nname = "torch-burn"\nbackend = "openai"\nmodel = "gpu-burn"\nbase_url = "http://127.0.0.1:{port}/v1"\n'
    return server, target


def wall(ts):
    """A sample's `sent_at` (RFC 3339, UTC) as seconds."""
    ts = ts.replace("Z", "+00:00")
    head, _, frac = ts.partition(".")
    if frac:  # Python before 3.11 takes at most 6 digits of fraction
        digits = "".join(c for c in frac if c.isdigit())
        ts = head + "." + digits[:6] + frac[len(digits):]
    return datetime.datetime.fromisoformat(ts).timestamp()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mlxbench")
    ap.add_argument("out")
    ap.add_argument("--tolerance", type=float, default=0.15)
    ap.add_argument("--mlx", help="an mlx target on this model instead of the PyTorch server")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=6)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    server = None
    if a.mlx:
        target = f'[[targets]]\nname = "mlx-cuda"\nbackend = "mlx"\nmodel = "{os.path.abspath(a.mlx)}"\n'
        workload = '[[workloads]]\nname = "decode"\nprompt_tokens = 128\n'
        warmup = 2  # the first prefill on the GPU compiles kernels
    else:
        server, target = start_burn_server()
        workload = '[[workloads]]\nname = "burn"\nprompt = "go"\n'
        warmup = 1
    power_log = os.path.join(a.out, "nvidia-smi-power.csv")
    # power.draw.instant: `power.draw` is averaged over a second on Hopper and lags a
    # request that starts from idle
    field = "power.draw.instant"
    probe = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"], capture_output=True, text=True)
    if probe.returncode != 0 or "not a valid field" in probe.stdout + probe.stderr:
        field = "power.draw"
    smi = subprocess.Popen(
        ["nvidia-smi", f"--query-gpu=timestamp,{field}", "--format=csv,noheader,nounits", "-lms", "20"],
        stdout=open(power_log, "w"),
    )
    time.sleep(1.0)
    scenario = os.path.join(a.out, "gpu-energy.toml")
    with open(scenario, "w") as f:
        f.write(
            'name = "gpu-energy"\ndescription = "NVML energy per request vs nvidia-smi power x time"\n'
            f"[defaults]\nwarmup = {warmup}\niterations = {a.iterations}\nmax_tokens = {a.max_tokens}\n"
            f"timeout_s = 300\ncooldown_s = 0.5\n{target}{workload}"
        )
    results = os.path.join(a.out, "results")
    run = subprocess.run([a.mlxbench, "run", "--out", results, scenario], capture_output=True, text=True)
    print(run.stdout[-3000:], run.stderr[-3000:], file=sys.stderr)
    time.sleep(0.5)
    smi.terminate()
    smi.wait()
    if server:
        server.shutdown()
    files = sorted(f for f in os.listdir(results) if f.endswith(".json"))
    res = json.load(open(os.path.join(results, files[-1])))
    case = res["cases"][0]
    power = read_power(power_log)
    if a.mlx:
        spans = [(wall(s["sent_at"]), wall(s["sent_at"]) + s["e2e_ms"] / 1e3) for s in case["samples"]]
    else:
        spans = SPANS[-len(case["samples"]):]  # the warmup request came first
    rows = []
    for s, (t0, t1) in zip(case["samples"], spans):
        smi_j = integrate(power, t0, t1)
        ours = s.get("energy_j")
        rows.append({"mlxbench_j": ours, "nvidia_smi_j": round(smi_j, 2), "seconds": round(t1 - t0, 3),
                     "off": None if not ours or not smi_j else round(ours / smi_j - 1, 4)})
    worst = max((abs(r["off"]) for r in rows if r["off"] is not None), default=None)
    summary = {"target": case["target"], "backend_version": case.get("backend_version"),
               "nvidia_smi_field": field, "energy": case.get("energy"), "requests": rows, "worst_off": worst,
               "power_w_median": case["summary"].get("power_w", {}).get("median"),
               "j_per_token_median": case["summary"].get("j_per_token", {}).get("median"),
               "decode_tps_median": case["summary"].get("decode_tps", {}).get("median"),
               "result_file": files[-1]}
    print(json.dumps(summary))
    json.dump(summary, open(os.path.join(a.out, "check.json"), "w"), indent=1)
    ok = worst is not None and worst <= a.tolerance and run.returncode == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
