"""Carry a dataset to a lent GPU machine within its 64 MiB transfer limit, losslessly, and back into
the official layout there.

    python results/scripts/lent_gpu.py pack ../shared/data/Kvasir-SEG .gpu-kvasir
    python results/scripts/lent_gpu.py unpack .gpu-kvasir ../shared/data      (on the GPU machine)

CVC-ClinicDB packs from its own folder or from PNG/ below it, and unpacks to DATA/CVC-ClinicDB/PNG either way.

What the package reads is unchanged: Kvasir-SEG images travel as their original JPEG files and its
masks as 1-bit PNGs of the same binarisation (gray >= 128) the loader applies; CVC-ClinicDB images
travel as lossless WebP and are written back as PNG. ``pack`` checks every converted file against
the original, pixel for pixel.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
from microaunet.data.io import read_image, read_mask  # noqa: E402
from microaunet.data.pairs import CVC_SUBFOLDERS, find_pairs  # noqa: E402


def _webp(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".webp", rgb[:, :, ::-1], [cv2.IMWRITE_WEBP_QUALITY, 101])  # > 100: lossless
    if not ok:
        raise RuntimeError("OpenCV could not encode WebP")
    return buf.tobytes()


def _from_webp(path: Path) -> np.ndarray:
    return cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]


def pack(root: Path, dest: Path) -> None:
    dataset = find_pairs(root)
    image_dir, mask_dir = dataset.samples[0].image.parent, dataset.samples[0].mask.parent
    base = image_dir.parent  # Kvasir-SEG, or CVC-ClinicDB/PNG: the dataset keeps its name above PNG/
    top = base.parent if base.name in CVC_SUBFOLDERS else base
    out = dest / top.name / base.relative_to(top)
    (out / image_dir.name).mkdir(parents=True, exist_ok=True)
    (out / mask_dir.name).mkdir(parents=True, exist_ok=True)
    for folder in {base, top}:
        if (folder / "metadata.csv").is_file():
            shutil.copy2(folder / "metadata.csv", dest / top.name / folder.relative_to(top) / "metadata.csv")
    for s in dataset.samples:
        if s.image.suffix.lower() in (".jpg", ".jpeg"):
            shutil.copy2(s.image, out / image_dir.name / s.image.name)
        else:
            target = out / image_dir.name / f"{s.id}.webp"
            target.write_bytes(_webp(read_image(s.image)))
            if not np.array_equal(_from_webp(target), read_image(s.image)):
                raise RuntimeError(f"{s.image}: WebP copy differs")
        if s.mask.suffix.lower() in (".jpg", ".jpeg"):
            target = out / mask_dir.name / f"{s.id}.png"
            Image.fromarray(read_mask(s.mask)).save(target, optimize=True)
            if not np.array_equal(read_mask(target), read_mask(s.mask)):
                raise RuntimeError(f"{s.mask}: PNG copy differs")
        else:
            shutil.copy2(s.mask, out / mask_dir.name / s.mask.name)
    size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    print(f"{len(dataset.samples)} pairs packed into {dest}: {size / 2**20:.1f} MiB")


def unpack(pack_dir: Path, data_dir: Path) -> None:
    for f in sorted(pack_dir.rglob("*")):
        if not f.is_file():
            continue
        target = data_dir / f.relative_to(pack_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.suffix == ".webp":
            Image.fromarray(_from_webp(f)).save(target.with_suffix(".png"))
        else:
            shutil.copy2(f, target)
    print(f"unpacked {pack_dir} into {data_dir}")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("pack", "unpack"):
        sys.exit(__doc__)
    (pack if sys.argv[1] == "pack" else unpack)(Path(sys.argv[2]), Path(sys.argv[3]))
