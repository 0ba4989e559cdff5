"""Benchmarks (not tests): what the decode cache and the training pipeline buy on this machine.

``bench data``  — one epoch's worth of samples decoded from JPEG/PNG and resized, against the same
                  samples loaded from the decode cache.
``bench train`` — images per second of a teacher (MALUNet) training step and of a distillation step,
                  for a plain eager PyTorch loop (decode every image from disk at every step,
                  NCHW float32) and for this package's pipeline (cached uint8 samples, batch
                  augmentation, each model in its faster memory layout on this machine, see
                  :mod:`microaunet.training.layout`), measured side by side in one run.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import find_pairs, read_image, read_mask
from .data.augment import augment
from .data.cache import decode_samples, load_samples
from .data.transforms import resize_image, resize_mask, to_model_input
from .models import build_model
from .progress import Progress
from .training.config import PaperKD
from .training.distillation import DistillationObjective
from .training.layout import LAYOUTS, fastest_layout
from .training.losses import bce_dice_loss


def cpu_name() -> str:
    """The CPU's model name where /proc/cpuinfo tells it, else the architecture."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    versions = {}
    for module in ("onnxruntime", "openvino", "cv2"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            pass
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version()} | versions


def bench_data(data: str | Path, size: int = 256, limit: int = 200) -> dict[str, Any]:
    samples = find_pairs(data).samples[:limit]
    t0 = time.perf_counter()
    decode_samples(samples, size, threads=1)
    decode_s = time.perf_counter() - t0
    load_samples(samples, size)  # fills the cache if needed
    t0 = time.perf_counter()
    load_samples(samples, size)
    cached_s = time.perf_counter() - t0
    return {"samples": len(samples), "size": size, "decode_s": round(decode_s, 3), "cached_s": round(cached_s, 3),
            "speedup": round(decode_s / cached_s, 1), "machine": machine()}


def _time_steps(step: Callable[[int], None], steps: int, warmup: int) -> float:
    for i in range(warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    return time.perf_counter() - t0


def bench_train(data: str | Path, size: int = 256, batch_size: int = 8, steps: int = 12,
                warmup: int = 3) -> dict[str, Any]:
    samples = find_pairs(data).samples[: batch_size * (steps + warmup)]
    cached = load_samples(samples, size)
    generator = torch.Generator().manual_seed(0)

    def eager_batch(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """What a plain loop does: open, decode and resize every file, every step."""
        chunk = samples[(i * batch_size) % len(samples):][:batch_size]
        images = np.stack([resize_image(read_image(s.image), size) for s in chunk])
        masks = np.stack([resize_mask(read_mask(s.mask), size) for s in chunk])
        return to_model_input(torch.from_numpy(images)), torch.from_numpy(masks).unsqueeze(1).float()

    def cached_batch(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """What ``train`` does: a random batch of the decoded cache, augmented."""
        idx = torch.randperm(len(cached.ids), generator=generator)[:batch_size].numpy()
        images = to_model_input(torch.from_numpy(cached.images[idx]))
        masks = torch.from_numpy(cached.masks[idx]).unsqueeze(1).float()
        return augment(images, masks, generator)

    def teacher_step(model, optimizer, batch_fn, layout):
        def step(i: int) -> None:
            images, masks = batch_fn(i)
            loss = bce_dice_loss(model(images.contiguous(memory_format=layout)), masks)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return step

    def distill_step(student, objective, optimizer, batch_fn, layout):
        def step(i: int) -> None:
            images, masks = batch_fn(i)
            loss, _ = objective(student, images.contiguous(memory_format=layout), masks, 0.25)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return step

    cpu = torch.device("cpu")
    layouts = {name: fastest_layout(build_model(name, seed=0), batch_size, size, cpu)[0]
               for name in ("malunet", "microaunet")}
    results: dict[str, Any] = {"size": size, "batch_size": batch_size, "steps": steps, "machine": machine(),
                               "layouts": layouts}
    nchw = torch.contiguous_format
    # (pipeline, batches, teacher training layout, student layout, frozen teacher's layout as distill runs it)
    pipelines = (("eager_decode_nchw", eager_batch, nchw, nchw, nchw),
                 ("cached_fastest_layout", cached_batch, LAYOUTS[layouts["malunet"]], LAYOUTS[layouts["microaunet"]],
                  torch.channels_last))
    for pipeline, batch_fn, teacher_fmt, student_fmt, frozen_fmt in pipelines:
        teacher = build_model("malunet", seed=0).to(memory_format=teacher_fmt)
        opt = torch.optim.AdamW(teacher.parameters(), 1e-3)
        seconds = _time_steps(teacher_step(teacher, opt, batch_fn, teacher_fmt), steps, warmup)
        results[f"teacher_{pipeline}"] = round(steps * batch_size / seconds, 1)
        student = build_model("microaunet", seed=0).to(memory_format=student_fmt)
        frozen = build_model("malunet", seed=1).to(memory_format=frozen_fmt)
        objective = DistillationObjective(frozen, student.widths, PaperKD())
        opt = torch.optim.AdamW(list(student.parameters()) + list(objective.projections.parameters()), 1e-3)
        seconds = _time_steps(distill_step(student, objective, opt, batch_fn, student_fmt), steps, warmup)
        results[f"distill_{pipeline}"] = round(steps * batch_size / seconds, 1)
    for kind in ("teacher", "distill"):
        speedup = results[f"{kind}_cached_fastest_layout"] / results[f"{kind}_eager_decode_nchw"]
        results[f"{kind}_speedup"] = round(speedup, 2)
    return results


def _repeat(fn: Callable[[], None], repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _stats(times: list[float], images: int) -> dict[str, float]:
    per_image = np.array(times) / images
    return {"median_ms": round(1000 * float(np.median(per_image)), 3),
            "iqr_ms": round(1000 * float(np.subtract(*np.percentile(per_image, [75, 25]))), 3),
            "images_per_s": round(1 / float(np.median(per_image)), 1)}


def speed_backends() -> tuple[str, ...]:
    """The inference backends ``bench speed`` times here: PyTorch and ONNX Runtime, and OpenVINO where installed."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return ("torch", "onnxruntime")
    return ("torch", "onnxruntime", "openvino")


def bench_speed(models: list[str] | None = None, size: int = 256, threads: tuple[int, ...] = (1, 2),
                repeats: int = 20, warmup: int = 5, video_frames: int = 300, backends: tuple[str, ...] | None = None,
                profile_runs: int = 50) -> dict[str, Any]:
    """Latency (batch 1) and throughput (batch 8) of every model with each backend (PyTorch eager, ONNX Runtime,
    OpenVINO where installed; the last two on the same fixed-size ONNX graph), at each thread count: the median
    over ``repeats`` timed runs after ``warmup`` and its interquartile range. For MicroAUNet also the latency of
    each test-time augmentation (batch 1, the views batched inside the graph); an ONNX Runtime profile (per-node
    time shares, batch 1, one thread) of MicroAUNet and MALUNet (``profile_runs`` 0 leaves it out); then end-to-end
    720p video prediction (``video_frames`` 0 leaves it out)."""
    import tempfile

    from .deploy.export import DeployModel, export_onnx
    from .deploy.segmenter import OpenVINORunner, onnx_session
    from .deploy.tta import TTA_MODES
    from .models import MODELS

    names = models or list(MODELS)
    backends = backends or speed_backends()
    # (tta, batch) of each measurement a model gets, at each thread count, with each backend
    plans = {name: [("none", 1), ("none", 8)] + ([(m, 1) for m in TTA_MODES[1:]] if name == "microaunet" else [])
             for name in names}
    profiled = [n for n in names if n in ("microaunet", "malunet")] if profile_runs else []
    rows, profiles = [], {}
    bar = Progress(sum(map(len, plans.values())) * len(threads) * len(backends) + len(profiled)
                   + (len(threads) + 1) * bool(video_frames), "bench speed", "measurements")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            model = build_model(name, seed=0).eval()
            for tta in dict.fromkeys(t for t, _ in plans[name]):
                onnx_path = export_onnx(model, Path(tmp) / f"{name}-{tta}.onnx", size, tta, fixed_size=True)
                torch_model = DeployModel(model.to(memory_format=torch.channels_last), tta)
                if name in profiled and tta == "none":
                    profiles[name] = profile_onnx(onnx_path, size, profile_runs)
                    bar.update()
                for n_threads in threads:
                    torch.set_num_threads(n_threads)
                    session = onnx_session(onnx_path, n_threads)
                    openvino = OpenVINORunner(onnx_path, n_threads) if "openvino" in backends else None
                    for batch in (b for t, b in plans[name] if t == tta):
                        x = torch.randn(batch, 3, size, size)
                        run = {"torch": partial(torch_model, x.contiguous(memory_format=torch.channels_last)),
                               "onnxruntime": partial(session.run, None, {"image": x.numpy()}),
                               "openvino": openvino and partial(openvino.run, x.numpy())}
                        scale = 1 if name not in ("unet", "sanet") else 4  # keep the big models' runs short
                        for backend in backends:
                            with torch.inference_mode():
                                times = _repeat(run[backend], max(3, repeats // scale), max(1, warmup // scale))
                            rows.append({"model": name, "backend": backend, "threads": n_threads, "batch": batch,
                                         "tta": tta, **_stats(times, batch)})
                            bar.update()
    torch.set_num_threads(max(threads))
    video = []
    for n_threads in threads if video_frames else ():
        video.append(bench_video(n_threads, video_frames))
        bar.update()
    encoders = bench_encoders(min(video_frames, 100)) if video_frames else {}
    bar.update(bool(video_frames))
    bar.close()
    return {"size": size, "rows": rows, "targets": speed_targets(rows), "profiles": profiles, "video": video,
            "encoders": encoders, "machine": machine()}


def speed_targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 35's inference targets from the rows of one run: MicroAUNet at batch 1, one thread, through the
    faster of ONNX Runtime and OpenVINO, in images/s, and its ratio to MALUNet's (same backend)."""
    def rate(model: str, backend: str) -> float | None:
        found = [r["images_per_s"] for r in rows if (r["model"], r["backend"], r["threads"], r["batch"], r["tta"])
                 == (model, backend, 1, 1, "none")]
        return found[0] if found else None

    rates = {b: rate("microaunet", b) for b in ("onnxruntime", "openvino") if rate("microaunet", b)}
    if not rates:
        return {}
    backend = max(rates, key=rates.get)
    teacher = rate("malunet", backend)
    ratio = round(rates[backend] / teacher, 2) if teacher else None
    return {"backend": backend, "microaunet_images_per_s": rates[backend], "goal_images_per_s": 500,
            "malunet_images_per_s": teacher, "ratio_to_malunet": ratio, "goal_ratio": 3}


def profile_onnx(path: str | Path, size: int = 256, runs: int = 50, top: int = 12) -> dict[str, Any]:
    """ONNX Runtime's own profile of ``runs`` batch-1 runs on one thread: each operator type's share of the
    kernel time (and its nodes per run), and the nodes that take most."""
    import json
    import tempfile

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).standard_normal((1, 3, size, size), dtype=np.float32)
        for _ in range(runs):
            session.run(None, {"image": x})
        events = json.loads(Path(session.end_profiling()).read_text())
    kernels = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    by_op: dict[str, list[float]] = {}
    by_node: dict[str, float] = {}
    for e in kernels:
        by_op.setdefault(e["args"]["op_name"], []).append(e["dur"])
        by_node[e["name"].removesuffix("_kernel_time")] = by_node.get(e["name"].removesuffix("_kernel_time"), 0) \
            + e["dur"]
    total = sum(by_node.values())
    ops = sorted(by_op.items(), key=lambda kv: -sum(kv[1]))
    return {"runs": runs, "nodes_per_run": round(len(kernels) / runs),
            "kernel_ms_per_run": round(total / runs / 1000, 3),
            "ops": [{"op": op, "share": round(sum(d) / total, 3), "nodes": round(len(d) / runs)} for op, d in ops],
            "top_nodes": [{"node": node, "share": round(d / total, 3)}
                          for node, d in sorted(by_node.items(), key=lambda kv: -kv[1])[:top]]}


def synthetic_video(path: Path, frames: int, width: int = 1280, height: int = 720) -> Path:
    """An mp4 of synthetic polyp frames drifting sideways."""
    import cv2

    from .data.synthetic import synthetic_pair

    rng = np.random.default_rng(0)
    scenes = [cv2.cvtColor(cv2.resize(synthetic_pair(rng, 256)[0], (width, height)), cv2.COLOR_RGB2BGR)
              for _ in range(4)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (width, height))
    for i in range(frames):
        writer.write(np.roll(scenes[(i // 25) % len(scenes)], 4 * i, axis=1))
    writer.release()
    return path


def bench_video(threads: int, frames: int = 300) -> dict[str, Any]:
    """End-to-end ``predict`` on a 720p video with the shipped MicroAUNet (decode, resize, infer, resize back,
    overlay, encode): the steady frames/s, the whole run's (loading the model included; the ONNX export is made
    once beforehand, as a first run's cache would hold it), and the mean milliseconds of each stage."""
    import tempfile

    from .deploy.predict import predict_video
    from .deploy.segmenter import Segmenter

    with tempfile.TemporaryDirectory() as tmp:
        video = synthetic_video(Path(tmp) / "synthetic_720p.mp4", frames)
        Segmenter(threads=threads).onnx_path()  # export once, as an earlier run would have
        started = time.perf_counter()
        segmenter = Segmenter(threads=threads)
        result = predict_video(segmenter, video, Path(tmp) / "out", started=started)
    return {"threads": threads, "frames": result["frames"], "size": result["size"], "fps": result["fps"],
            "fps_whole_run": result["fps_whole_run"], "codec": result["codec"], "stage_ms": result["stage_ms"]}


def bench_encoders(frames: int = 100) -> dict[str, float]:
    """Milliseconds a 720p frame takes to encode with each writer predict can use: H.264 (PyAV, where
    installed) and mp4v (OpenCV)."""
    import tempfile

    import cv2

    from .deploy.predict import _OpenCVWriter, _PyAVWriter

    with tempfile.TemporaryDirectory() as tmp:
        capture = cv2.VideoCapture(str(synthetic_video(Path(tmp) / "v.mp4", frames)))
        images = []
        while (item := capture.read())[0]:
            images.append(item[1])
        height, width = images[0].shape[:2]
        writers = {"mp4v": lambda: _OpenCVWriter(cv2.VideoWriter(str(Path(tmp) / "o.mp4"), cv2.VideoWriter_fourcc(
            *"mp4v"), 25, (width, height)), "mp4v")}
        try:
            import av

            if "libx264" in av.codecs_available:
                writers["h264"] = lambda: _PyAVWriter(Path(tmp) / "o.mp4", 25, width, height)
        except ImportError:
            pass
        result = {}
        for codec, make in writers.items():
            writer = make()
            t0 = time.perf_counter()
            for image in images:
                writer.write_bgr(image)
            writer.close()
            result[codec] = round(1000 * (time.perf_counter() - t0) / len(images), 3)
    return result


def format_speed(result: dict[str, Any]) -> str:
    lines = [f"Inference speed at {result['size']}x{result['size']} ({result['machine']})",
             f"{'model':18}{'backend':13}{'threads':>8}{'batch':>6}{'tta':>6}{'median ms/img':>15}{'IQR ms':>9}"
             f"{'img/s':>9}"]
    for r in result["rows"]:
        lines.append(f"{r['model']:18}{r['backend']:13}{r['threads']:>8}{r['batch']:>6}{r.get('tta', 'none'):>6}"
                     f"{r['median_ms']:>15.3f}{r['iqr_ms']:>9.3f}{r['images_per_s']:>9.1f}")
    if t := result.get("targets"):
        ratio = f"{t['ratio_to_malunet']}x" if t.get("ratio_to_malunet") else "n/a"
        lines.append(f"targets: MicroAUNet, {t['backend']}, batch 1, 1 thread: {t['microaunet_images_per_s']} img/s "
                     f"(goal {t['goal_images_per_s']}); MALUNet {t['malunet_images_per_s']} img/s: {ratio} "
                     f"(goal {t['goal_ratio']}x)")
    for name, p in result.get("profiles", {}).items():
        ops = ", ".join(f"{o['op']} {100 * o['share']:.0f}% ({o['nodes']})" for o in p["ops"][:8])
        lines.append(f"ONNX Runtime profile, {name}, batch 1, 1 thread: {p['nodes_per_run']} nodes, "
                     f"{p['kernel_ms_per_run']} ms of kernels a run; by operator (nodes): {ops}")
        lines.append("  top nodes: " + ", ".join(f"{n['node']} {100 * n['share']:.1f}%" for n in p["top_nodes"][:6]))
    for v in result.get("video", []):
        stages = ", ".join(f"{k} {ms:.1f}" for k, ms in v["stage_ms"].items())
        lines.append(f"predict on a {v['size'][0]}x{v['size'][1]} video (decode, resize, infer, resize back, overlay, "
                     f"encode {v['codec']}), {v['threads']} inference thread(s): {v['fps']:.1f} frames/s steady, "
                     f"{v['fps_whole_run']:.1f} over the whole run (start-up included), {v['frames']} frames; "
                     f"ms a frame in each stage's thread: {stages}")
    if result.get("encoders"):
        lines.append("encoding a 720p frame: " + ", ".join(f"{k} {ms:.1f} ms" for k, ms in result["encoders"].items()))
    return "\n".join(lines)
