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
    for module in ("onnxruntime", "cv2"):
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


def bench_speed(models: list[str] | None = None, size: int = 256, threads: tuple[int, ...] = (1, 2),
                repeats: int = 20, warmup: int = 5, video_frames: int = 300) -> dict[str, Any]:
    """Latency (batch 1) and throughput (batch 8) of every model, PyTorch eager and ONNX Runtime; for
    MicroAUNet also the latency of each test-time augmentation (batch 1, the views batched inside);
    then end-to-end 720p video prediction (``video_frames`` 0 leaves it out)."""
    import tempfile

    from .deploy.export import DeployModel, export_onnx
    from .deploy.segmenter import onnx_session
    from .deploy.tta import TTA_MODES
    from .models import MODELS

    names = models or list(MODELS)
    # (tta, batch) of each measurement a model gets, at each thread count, with each backend
    plans = {name: [("none", 1), ("none", 8)] + ([(m, 1) for m in TTA_MODES[1:]] if name == "microaunet" else [])
             for name in names}
    rows = []
    bar = Progress(sum(map(len, plans.values())) * len(threads) * 2 + len(threads) * bool(video_frames),
                   "bench speed", "measurements")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            model = build_model(name, seed=0).eval()
            for tta in dict.fromkeys(t for t, _ in plans[name]):
                onnx_path = export_onnx(model, Path(tmp) / f"{name}-{tta}.onnx", size, tta)
                torch_model = DeployModel(model.to(memory_format=torch.channels_last), tta)
                for n_threads in threads:
                    torch.set_num_threads(n_threads)
                    session = onnx_session(onnx_path, n_threads)
                    for batch in (b for t, b in plans[name] if t == tta):
                        x = torch.randn(batch, 3, size, size)
                        backends = (("torch", partial(torch_model, x.contiguous(memory_format=torch.channels_last))),
                                    ("onnxruntime", partial(session.run, None, {"image": x.numpy()})))
                        scale = 1 if name not in ("unet", "sanet") else 4  # keep the big models' runs short
                        for backend, fn in backends:
                            with torch.inference_mode():
                                times = _repeat(fn, max(3, repeats // scale), max(1, warmup // scale))
                            rows.append({"model": name, "backend": backend, "threads": n_threads, "batch": batch,
                                         "tta": tta, **_stats(times, batch)})
                            bar.update()
    torch.set_num_threads(max(threads))
    video = []
    for n_threads in threads if video_frames else ():
        video.append(bench_video(n_threads, video_frames))
        bar.update()
    bar.close()
    return {"size": size, "rows": rows, "video": video, "machine": machine()}


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
    """End-to-end ``predict`` on a 720p video with the shipped MicroAUNet: decode, resize, infer,
    overlay, encode."""
    import tempfile

    from .deploy.predict import predict_video
    from .deploy.segmenter import Segmenter

    with tempfile.TemporaryDirectory() as tmp:
        video = synthetic_video(Path(tmp) / "synthetic_720p.mp4", frames)
        segmenter = Segmenter(threads=threads)
        predict_video(segmenter, video, Path(tmp) / "warmup")  # the first run also exports the ONNX model
        result = predict_video(segmenter, video, Path(tmp) / "out")
    return {"threads": threads, "frames": result["frames"], "size": result["size"], "fps": result["fps"]}


def format_speed(result: dict[str, Any]) -> str:
    lines = [f"Inference speed at {result['size']}x{result['size']} ({result['machine']})",
             f"{'model':18}{'backend':13}{'threads':>8}{'batch':>6}{'tta':>6}{'median ms/img':>15}{'IQR ms':>9}"
             f"{'img/s':>9}"]
    for r in result["rows"]:
        lines.append(f"{r['model']:18}{r['backend']:13}{r['threads']:>8}{r['batch']:>6}{r.get('tta', 'none'):>6}"
                     f"{r['median_ms']:>15.3f}{r['iqr_ms']:>9.3f}{r['images_per_s']:>9.1f}")
    for v in result.get("video", []):
        lines.append(f"predict on a {v['size'][0]}x{v['size'][1]} video (decode, resize, infer, overlay, encode), "
                     f"{v['threads']} inference thread(s): {v['fps']:.1f} frames/s over {v['frames']} frames")
    return "\n".join(lines)
