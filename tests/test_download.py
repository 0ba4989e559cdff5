from __future__ import annotations

import io
import tarfile
import urllib.error
import zipfile
from pathlib import Path

import pytest
from conftest import write_bkai_published

from microaunet.data import DataError
from microaunet.data import download as dl
from microaunet.data.synthetic import write_synthetic_dataset


def zip_dataset(tmp_path: Path, count: int) -> Path:
    src = write_synthetic_dataset(tmp_path / "src" / "Kvasir-SEG", count=count, size=32)
    archive = tmp_path / "kvasir-seg.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(src.rglob("*.png")):
            zf.write(f, f.relative_to(src.parent).as_posix())
    return archive


def test_extracts_a_local_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(dl.SOURCES, "kvasir-seg", dl.SOURCES["kvasir-seg"].__class__("Kvasir-SEG", None, 5, "by hand"))
    root = dl.download_dataset("kvasir-seg", tmp_path / "data", archive=zip_dataset(tmp_path, 5))
    assert root == tmp_path / "data" / "Kvasir-SEG"
    assert len(list((root / "images").glob("*.png"))) == 5
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["Kvasir-SEG"]  # no staging left behind


def test_wrong_count_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="expected 1000 Kvasir-SEG pairs, found 3"):
        dl.download_dataset("kvasir-seg", tmp_path / "data", archive=zip_dataset(tmp_path, 3))


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_malicious_zip_is_refused(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr(name, "pwned")
    with pytest.raises(DataError, match="refuses"):
        dl.safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "ok.txt").exists()


def test_tar_links_and_traversal_are_refused(tmp_path: Path) -> None:
    for kind in ("symlink", "traversal"):
        archive = tmp_path / f"{kind}.tar.gz"
        with tarfile.open(archive, "w:gz") as tf:
            info = tarfile.TarInfo("link" if kind == "symlink" else "../escape.txt")
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tf.addfile(info)
            else:
                info.size = 3
                tf.addfile(info, io.BytesIO(b"bad"))
        with pytest.raises(DataError, match="refuses"):
            dl.safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_offline_fails_at_once_with_manual_instructions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(dl.urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match="Offline.*kvasir-seg.zip.*--archive"):
        dl.download_dataset("kvasir-seg", tmp_path / "data")
    with pytest.raises(DataError, match="registration"):
        dl.download_dataset("cvc-clinicdb", tmp_path / "data")
    with pytest.raises(DataError, match="cannot be fetched automatically.*kaggle.com/competitions/bkai-igh-neopolyp"
                                        ".*--archive bkai-igh-neopolyp.zip"):
        dl.download_dataset("bkai-neopolyp", tmp_path / "data")


def bkai_archive(tmp_path: Path, count: int) -> Path:
    """A zip laid out as Kaggle's bkai-igh-neopolyp.zip: train/train, train_gt/train_gt, test/test."""
    src = tmp_path / "src"
    write_bkai_published(src, count, size=(32, 24))
    archive = tmp_path / "bkai-igh-neopolyp.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(src.rglob("*.jpeg")):
            zf.write(f, f.relative_to(src).as_posix())
    return archive


def test_extracts_bkai_as_published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataError, match="expected 1000 BKAI-NeoPolyp pairs, found 4"):
        dl.download_dataset("bkai-neopolyp", tmp_path / "data", archive=bkai_archive(tmp_path, 4))
    monkeypatch.setitem(dl.SOURCES, "bkai-neopolyp", dl.SOURCES["bkai-neopolyp"].__class__(
        "BKAI-NeoPolyp", None, 4, "by hand"))
    root = dl.download_dataset("bkai-neopolyp", tmp_path / "data", archive=tmp_path / "bkai-igh-neopolyp.zip")
    assert root == tmp_path / "data" / "BKAI-NeoPolyp"
    assert len(list((root / "train_gt" / "train_gt").glob("*.jpeg"))) == 4


def test_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_text("hello")
    with pytest.raises(DataError, match="not a zip or tar"):
        dl.safe_extract(tmp_path / "x.zip", tmp_path / "out")
