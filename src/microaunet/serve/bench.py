"""``microaunet bench serve``: a bounded load test of the service on loopback.

The server runs in a subprocess (``microaunet serve``), so that its memory is its own; clients are
threads, each with one keep-alive connection, sending the same 720x576 JPEG for a fixed count of
requests at each client count; every answer must be the same mask. The service's overhead is
measured against bare ``Segmenter.predict`` on the same JPEG file, with the same threads (torch's
and ONNX Runtime's, as the server sets them), the two alternated one call at a time.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..bench import machine
from ..data.io import read_image
from ..data.synthetic import synthetic_pair
from ..deploy.segmenter import Segmenter

WARMUP = 20


def synthetic_jpeg(width: int = 720, height: int = 576) -> bytes:
    """A Kvasir-SEG-sized synthetic polyp frame as JPEG (quality 95, as OpenCV writes it by default)."""
    image, _ = synthetic_pair(np.random.default_rng(0), 256)
    frame = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process from /proc (Linux); None elsewhere."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def percentiles(seconds: list[float]) -> dict[str, float]:
    p50, p95, p99 = np.percentile(np.array(seconds) * 1e3, [50, 95, 99])
    return {"p50_ms": round(float(p50), 2), "p95_ms": round(float(p95), 2), "p99_ms": round(float(p99), 2)}


def post(connection: http.client.HTTPConnection, body: bytes) -> tuple[http.client.HTTPResponse, bytes]:
    connection.request("POST", "/v1/segment", body, {"Content-Type": "image/jpeg"})
    response = connection.getresponse()
    return response, response.read()


def overhead(segmenter: Segmenter, jpeg: bytes, port: int, pairs: int) -> dict[str, Any]:
    """Bare ``Segmenter.predict`` on the JPEG file (its decoding included) and one request, in alternation.

    Each pair runs under the same load from whatever else runs on the machine, so the overhead is the
    median of the pairs' differences; the server's own steps (Server-Timing) say where it goes.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    bare, served, steps = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "frame.jpg"
        path.write_bytes(jpeg)
        for i in range(WARMUP + pairs):
            t0 = time.perf_counter()
            segmenter.predict(path)
            t1 = time.perf_counter()
            response, _ = post(connection, jpeg)
            t2 = time.perf_counter()
            if i >= WARMUP:
                bare.append(t1 - t0)
                served.append(t2 - t1)
                timing = response.getheader("Server-Timing").split(", ")
                steps.append({k: float(v) for k, v in (step.split(";dur=") for step in timing)})
    connection.close()
    differences = np.array(served) - np.array(bare)
    return {"pairs": pairs, "bare_predict": percentiles(bare), "request": percentiles(served),
            "server_steps_p50_ms": {k: round(float(np.median([s[k] for s in steps])), 2) for k in steps[0]},
            "p50_ms": round(float(np.median(differences)) * 1e3, 2)}


class Server:
    """``microaunet serve`` in a subprocess on a free loopback port."""

    def __init__(self, weights: str, workers: int, threads: int) -> None:
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "microaunet.cli", "serve", "--weights", weights, "--port", str(self.port),
             "--workers", str(workers), "--threads", str(threads)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while not self.healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                output = self.log.read().decode(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"the server did not start:\n{output}")
            time.sleep(0.2)

    def healthy(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/health")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def load(server: Server, body: bytes, requests: int, clients: int) -> dict[str, Any]:
    """``requests`` POSTs of ``body`` shared by ``clients`` threads, and the server's RSS at each tenth of them.

    Every answer must be the same mask: ``distinct_masks`` counts those that came back.
    """
    remaining = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    answers: set[bytes] = set()
    memory: list[float | None] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        while True:
            with lock:
                index = next(remaining, None)
                if index is None:
                    break
                if index % max(requests // 10, 1) == 0:
                    memory.append(rss_mb(server.process.pid))
            t0 = time.perf_counter()
            try:
                response, data = post(connection, body)
                outcome = "ok" if response.status == 200 else f"HTTP {response.status}"
            except (OSError, http.client.HTTPException) as e:
                outcome = type(e).__name__
                connection.close()  # reconnects at the next request
            elapsed = time.perf_counter() - t0
            with lock:
                if outcome == "ok":
                    latencies.append(elapsed)
                    answers.add(data)
                else:
                    errors[outcome] = errors.get(outcome, 0) + 1
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    memory.append(rss_mb(server.process.pid))
    return {"clients": clients, "requests": requests, "ok": len(latencies), "errors": errors,
            "distinct_masks": len(answers), "seconds": round(seconds, 2),
            "requests_per_s": round(len(latencies) / seconds, 1), "server_rss_mb": memory[-1],
            "server_rss_mb_trace": memory} | (percentiles(latencies) if latencies else {})


def bench_serve(weights: str, requests: int = 1000, clients: list[int] | tuple[int, ...] = (1, 4, 16),
                workers: int = 2, threads: int = 1, image: Path | None = None, pairs: int = 300) -> dict[str, Any]:
    """Requests/s, latency percentiles and the server's memory at each client count, and the overhead."""
    import fastapi  # noqa: F401  (where the serve extra is missing, say so now rather than in the server's log)

    if image:
        read_image(image)  # a clear error now for what is not an image, rather than 400s under load
    body = image.read_bytes() if image else synthetic_jpeg()
    height, width = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape[:2]
    load_before = load_average()
    torch.set_num_threads(1)  # as the server does
    segmenter = Segmenter(weights, threads=threads)  # bad weights fail here; the server reuses its ONNX export
    server = Server(weights, workers, threads)
    try:
        load(server, body, WARMUP, 1)
        before = rss_mb(server.process.pid)
        levels = [load(server, body, requests, count) for count in clients]
        measured = overhead(segmenter, body, server.port, pairs)
    finally:
        server.stop()
    settings = {"weights": weights, "requests": requests, "clients": list(clients), "workers": workers,
                "threads": threads, "pairs": pairs, "image": str(image) if image else None}
    return {
        "settings": settings, "image": f"{image or 'synthetic'} ({width}x{height}, {len(body)} bytes)",
        "levels": levels,
        "server_rss_mb_before": before, "overhead": measured, "machine": machine(), "commit": commit(),
        "load_average": [load_before, load_average()],
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def load_average() -> float | None:
    """The machine's one-minute load average: what else ran beside the benchmark (None where unknown)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def commit() -> str | None:
    """The checkout's commit (with ``+dirty`` for uncommitted changes), where the package runs from one."""
    root = Path(__file__).resolve().parents[3]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def format_serve_bench(result: dict[str, Any]) -> str:
    s = result["settings"]
    lines = [f"microaunet serve ({s['weights']}, --workers {s['workers']} --threads {s['threads']}), "
             f"POST /v1/segment of {result['image']} -> mask PNG, on loopback", "",
             "| clients | requests | ok | errors | distinct masks | requests/s | p50 ms | p95 ms | p99 ms "
             "| server RSS MB after |", "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for level in result["levels"]:
        errors = ", ".join(f"{k}: {v}" for k, v in level["errors"].items()) or "0"
        lines.append(f"| {level['clients']} | {level['requests']} | {level['ok']} | {errors} | "
                     f"{level['distinct_masks']} | {level['requests_per_s']} | {level.get('p50_ms', '-')} | "
                     f"{level.get('p95_ms', '-')} | {level.get('p99_ms', '-')} | {level['server_rss_mb']} |")
    o = result["overhead"]
    lines += ["", f"server RSS after warm-up: {result['server_rss_mb_before']} MB; at each tenth of the requests:"]
    lines += [f"- {level['clients']} clients: {' '.join(map(str, level['server_rss_mb_trace']))} MB"
              for level in result["levels"]]
    in_server = ", ".join(f"{k} {v}" for k, v in o["server_steps_p50_ms"].items())
    lines += ["",
              f"overhead over bare Segmenter.predict, {o['pairs']} calls of it on the same JPEG file alternated with "
              f"{o['pairs']} requests (one client): {o['p50_ms']} ms, the median of the pairs' differences "
              f"(predict p50 {o['bare_predict']['p50_ms']} ms, request p50 {o['request']['p50_ms']} ms; "
              f"in the server, p50 of each step in ms: {in_server})"]
    return "\n".join(lines)


def command_line(settings: dict[str, Any], out: Path) -> str:
    """The command that repeats this run, every setting spelt out."""
    words = ["microaunet", "bench", "serve", "--weights", settings["weights"], "--requests", str(settings["requests"]),
             "--clients", *map(str, settings["clients"]), "--workers", str(settings["workers"]),
             "--threads", str(settings["threads"]), "--pairs", str(settings["pairs"])]
    return shlex.join(words + (["--image", settings["image"]] if settings["image"] else []) + ["--out", str(out)])


def write_serve_bench(result: dict[str, Any], out: Path) -> None:
    """``out``.json (the result) and ``out``.md (the command, commit, machine and date, then the table)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    command = command_line(result["settings"], out)
    out.with_suffix(".json").write_text(json.dumps(result | {"command": command}, indent=2) + "\n")
    m = result["machine"]
    header = [f"Command: `{command}`", "", f"Commit: {result['commit']}", "",
              f"Machine: {m['cpu']}, {m['cores']} cores (torch {m['torch']}, onnxruntime {m.get('onnxruntime')}, "
              f"Python {m['python']}); one-minute load average {result['load_average'][0]} before the run, "
              f"{result['load_average'][1]} after", "", f"Date: {result['date']}", ""]
    out.with_suffix(".md").write_text("\n".join(header) + "\n" + format_serve_bench(result) + "\n")
