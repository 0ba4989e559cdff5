"""``microaunet data download``: fetch an official archive, verify it, and extract it safely.

Verification: every member's CRC (zip) or readability (tar) is checked, and the extracted
folder must hold the expected number of image/mask pairs. Extraction refuses absolute paths,
``..`` components, links and special files, so a malicious archive cannot write outside ``dest``.
"""

from __future__ import annotations

import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from .io import DataError
from .pairs import PairedDataset, find_pairs


@dataclass(frozen=True)
class DatasetSource:
    name: str
    url: str | None
    pairs: int
    manual: str


SOURCES = {
    "kvasir-seg": DatasetSource(
        "Kvasir-SEG", "https://datasets.simula.no/downloads/kvasir-seg.zip", 1000,
        "download kvasir-seg.zip from https://datasets.simula.no/kvasir-seg/ and run "
        "'microaunet data download kvasir-seg --archive kvasir-seg.zip --dest DIR'",
    ),
    "cvc-clinicdb": DatasetSource(
        "CVC-ClinicDB", None, 612,
        "CVC-ClinicDB is distributed after registration (https://polyp.grand-challenge.org/CVCClinicDB/) "
        "or as the Kaggle archive with PNG/ and metadata.csv; download it by hand and run "
        "'microaunet data download cvc-clinicdb --archive ARCHIVE.zip --dest DIR'",
    ),
    "bkai-neopolyp": DatasetSource(
        "BKAI-NeoPolyp", None, 1000,
        "BKAI-NeoPolyp is the training set of the BKAI-IGH NeoPolyp-Small challenge, distributed on Kaggle to "
        "accounts that accept the competition's rules (https://www.kaggle.com/competitions/bkai-igh-neopolyp/data, "
        "or 'kaggle competitions download -c bkai-igh-neopolyp'); download bkai-igh-neopolyp.zip by hand (it holds "
        "train/train/*.jpeg and the colour masks train_gt/train_gt/*.jpeg) and run "
        "'microaunet data download bkai-neopolyp --archive bkai-igh-neopolyp.zip --dest DIR'",
    ),
}

CONNECT_TIMEOUT_S = 15


def _check_member_name(name: str, archive: Path) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise DataError(f"{archive}: refuses to extract member with an absolute path: {name!r}")
    if ".." in path.parts:
        raise DataError(f"{archive}: refuses to extract member that climbs out of the destination: {name!r}")
    return path


def safe_extract(archive: str | Path, dest: str | Path) -> Path:
    """Extract a .zip or .tar(.gz/.bz2/.xz) archive into ``dest`` after checking every member first."""
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise DataError(f"{archive}: archive not found")
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _check_member_name(info.filename, archive)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise DataError(f"{archive}: refuses to extract symbolic link {info.filename!r}")
            bad = zf.testzip()
            if bad is not None:
                raise DataError(f"{archive}: member {bad!r} is corrupt (CRC mismatch); download it again")
            zf.extractall(dest)
        return dest
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for m in members:
                _check_member_name(m.name, archive)
                if not (m.isfile() or m.isdir()):
                    raise DataError(f"{archive}: refuses to extract {m.name!r}: "
                                    "links and special files are not allowed")
            tf.extractall(dest, members=members)
        return dest
    raise DataError(f"{archive}: not a zip or tar archive (a .rar must be unpacked by hand first)")


def _fetch(url: str, target: Path, manual: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=CONNECT_TIMEOUT_S) as response, target.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, file=sys.stderr) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        target.unlink(missing_ok=True)
        raise DataError(f"cannot download {url} ({e}). Offline? {manual}") from None


def _find_dataset(dest: Path) -> PairedDataset:
    """The first folder under ``dest`` (itself included) that holds a dataset layout."""
    for candidate in [dest, *sorted(p for p in dest.rglob("*") if p.is_dir())]:
        try:
            return find_pairs(candidate, skip_bad=True)
        except DataError:
            continue
    raise DataError(f"{dest}: the archive holds no images/ + masks/ (or Original/ + Ground Truth/, "
                    "or train/ + train_gt/) folders")


def download_dataset(dataset: str, dest: str | Path, archive: str | Path | None = None) -> Path:
    """Fetch (unless ``archive`` is given), verify and extract; returns the folder to pass to --data."""
    source = SOURCES[dataset]
    dest = Path(dest)
    final = dest / source.name
    if final.exists():
        raise DataError(f"{final}: already exists; remove it or choose another --dest")
    dest.mkdir(parents=True, exist_ok=True)
    if archive is None:
        if source.url is None:
            raise DataError(f"{source.name} cannot be fetched automatically: {source.manual}")
        archive = dest / Path(source.url).name
        _fetch(source.url, archive, source.manual)
    staging = dest / f".extract-{dataset}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        safe_extract(archive, staging)
        dataset = _find_dataset(staging)
        found = len(dataset.samples)
        if found != source.pairs:
            raise DataError(f"{archive}: expected {source.pairs} {source.name} pairs, found {found}")
        shutil.move(str(dataset.root), str(final))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
