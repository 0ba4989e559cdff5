"""Finding image/mask pairs in the layouts users get from the official downloads.

Supported layouts (``root`` is what the user passes):
- ``root/images`` + ``root/masks`` (Kvasir-SEG, or any folder of pairs)
- ``root/Original`` + ``root/Ground Truth`` (CVC-ClinicDB's PNG or TIF folder)
- ``root/PNG``, ``root/TIF`` or ``root/TIFF`` holding the above (the CVC-ClinicDB archive root)
- ``root/train`` + ``root/train_gt`` (BKAI-NeoPolyp as published on Kaggle, where each holds a folder of
  its own name: ``train/train/*.jpeg`` and ``train_gt/train_gt/*.jpeg``; its ``test/`` has no masks)

Pairs are matched by file stem, never by listing order. A ``metadata.csv`` with ``frame_id`` and
``sequence_id`` columns (CVC-ClinicDB) in ``root`` or its parent gives each frame its video sequence.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .io import IMAGE_EXTENSIONS, DataError

LAYOUTS = (("images", "masks"), ("Original", "Ground Truth"), ("train", "train_gt"))
CVC_SUBFOLDERS = ("PNG", "TIF", "TIFF")


@dataclass(frozen=True)
class Sample:
    id: str
    image: Path
    mask: Path
    sequence: str | None = None


@dataclass
class PairedDataset:
    root: Path
    image_dir: Path
    mask_dir: Path
    samples: list[Sample]
    problems: list[str] = field(default_factory=list)  # unpaired or ambiguous files
    ignored: list[str] = field(default_factory=list)  # files that are not images

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.samples]

    def subset(self, ids: list[str]) -> list[Sample]:
        """The samples with these ids, in this order; an unknown id is an error."""
        by_id = {s.id: s for s in self.samples}
        missing = [i for i in ids if i not in by_id]
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise DataError(f"{self.root}: {len(missing)} id(s) of the split are not in this dataset: {shown}")
        return [by_id[i] for i in ids]

    @property
    def has_sequences(self) -> bool:
        return bool(self.samples) and all(s.sequence is not None for s in self.samples)


def _undouble(folder: Path) -> Path:
    """``train/train`` -> the inner folder (Kaggle's archives wrap each folder in one of the same name)."""
    return folder / folder.name if (folder / folder.name).is_dir() else folder


def _find_layout(root: Path) -> tuple[Path, Path]:
    candidates = [root] + [root / sub for sub in CVC_SUBFOLDERS]
    for base in candidates:
        for image_name, mask_name in LAYOUTS:
            if (base / image_name).is_dir() and (base / mask_name).is_dir():
                return _undouble(base / image_name), _undouble(base / mask_name)
    expected = " or ".join(f"'{a}/' + '{b}/'" for a, b in LAYOUTS)
    raise DataError(f"{root}: no dataset layout found; expected sub-folders {expected} (or PNG/ holding them)")


def _image_files(folder: Path) -> tuple[dict[str, Path], list[str], list[str]]:
    """Image files by stem, the ambiguous ones, and the ignored non-images."""
    files: dict[str, Path] = {}
    problems, ignored = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            ignored.append(f"{path}: not an image extension ({', '.join(IMAGE_EXTENSIONS)}), ignored")
            continue
        if path.stem in files:
            problems.append(f"{path}: same stem as {files[path.stem].name}; ambiguous pair")
            continue
        files[path.stem] = path
    return files, problems, ignored


def _read_sequences(root: Path) -> dict[str, str]:
    for folder in (root, root.parent):
        meta = folder / "metadata.csv"
        if meta.is_file():
            with meta.open(newline="") as f:
                reader = csv.DictReader(f)
                if not reader.fieldnames or not {"frame_id", "sequence_id"} <= set(reader.fieldnames):
                    raise DataError(f"{meta}: needs columns frame_id and sequence_id, has {reader.fieldnames}")
                return {row["frame_id"].strip(): row["sequence_id"].strip() for row in reader}
    return {}


def find_pairs(root: str | Path, skip_bad: bool = False) -> PairedDataset:
    """Pair every image with its mask by file stem.

    Unpaired files are an error listing each of them, or with ``skip_bad`` a warning and the
    pairs that remain. Decoding is not attempted here (see :func:`microaunet.data.check.check_dataset`).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    image_dir, mask_dir = _find_layout(root)
    images, problems, ignored = _image_files(image_dir)
    masks, mask_problems, mask_ignored = _image_files(mask_dir)
    problems += mask_problems
    ignored += mask_ignored
    problems += [f"{images[s]}: no mask with this stem in {mask_dir}" for s in sorted(images.keys() - masks.keys())]
    problems += [f"{masks[s]}: no image with this stem in {image_dir}" for s in sorted(masks.keys() - images.keys())]
    sequences = _read_sequences(image_dir.parent)
    samples = [Sample(s, images[s], masks[s], sequences.get(s)) for s in sorted(images.keys() & masks.keys())]
    dataset = PairedDataset(root, image_dir, mask_dir, samples, problems, ignored)
    if problems and not skip_bad:
        raise DataError(f"{root}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    for p in problems + ignored:
        warnings.warn(p, stacklevel=2)
    if not samples:
        raise DataError(f"{root}: no image/mask pairs found in {image_dir} and {mask_dir}")
    return dataset
