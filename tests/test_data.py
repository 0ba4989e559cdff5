from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import real_dataset, write_bkai_published
from PIL import Image

from microaunet.cli import main
from microaunet.data import DataError, find_pairs, load_training_data, read_image, read_mask
from microaunet.data.augment import augment
from microaunet.data.cache import load_samples
from microaunet.data.check import check_dataset, format_report, mask_values
from microaunet.data.io import MASK_THRESHOLD
from microaunet.data.splits import packaged_split, resolve_split, train_val_ids
from microaunet.data.transforms import to_model_input


def write_pair(root: Path, stem: str, size=(64, 48), image_ext=".jpg", mask_ext=".png",
               dirs=("images", "masks")) -> None:
    (root / dirs[0]).mkdir(parents=True, exist_ok=True)
    (root / dirs[1]).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(stem)) % 2**32)
    image = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(image).save(root / dirs[0] / f"{stem}{image_ext}")
    mask = np.zeros((size[1], size[0]), np.uint8)
    mask[5:20, 5:30] = 255
    Image.fromarray(mask).save(root / dirs[1] / f"{stem}{mask_ext}")


def test_pairs_by_stem_not_listing_order(tmp_path: Path) -> None:
    for stem in ("b", "a", "c"):
        write_pair(tmp_path, stem)
    ds = find_pairs(tmp_path)
    assert [(s.id, s.image.stem, s.mask.stem) for s in ds.samples] == [(x, x, x) for x in "abc"]


def test_unmatched_files_are_listed(tmp_path: Path) -> None:
    write_pair(tmp_path, "a")
    write_pair(tmp_path, "b")
    (tmp_path / "masks" / "b.png").unlink()
    shutil.copy(tmp_path / "masks" / "a.png", tmp_path / "masks" / "orphan.png")
    with pytest.raises(DataError) as err:
        find_pairs(tmp_path)
    assert "b.jpg: no mask" in str(err.value) and "orphan.png: no image" in str(err.value)
    with pytest.warns(UserWarning) as warned:
        assert find_pairs(tmp_path, skip_bad=True).ids == ["a"]
    messages = " ".join(str(w.message) for w in warned)
    assert "b.jpg: no mask" in messages and "orphan.png: no image" in messages


def test_cvc_layouts_and_sequences(tmp_path: Path) -> None:
    for stem in ("1", "2", "3"):
        write_pair(tmp_path / "TIF", stem, image_ext=".tif", mask_ext=".tif", dirs=("Original", "Ground Truth"))
    (tmp_path / "metadata.csv").write_text("frame_id,sequence_id\n1,1\n2,1\n3,2\n")
    ds = find_pairs(tmp_path)
    assert ds.image_dir.name == "Original" and ds.has_sequences
    assert [s.sequence for s in ds.samples] == ["1", "1", "2"]
    assert read_image(ds.samples[0].image).shape == (48, 64, 3)


def test_no_layout_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no dataset layout"):
        find_pairs(tmp_path)


def test_image_conversions(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 4), 200, np.uint8)).save(tmp_path / "gray.png")
    Image.fromarray(np.full((4, 4, 4), 90, np.uint8), "RGBA").save(tmp_path / "rgba.png")
    assert read_image(tmp_path / "gray.png").shape == (4, 4, 3)
    assert read_image(tmp_path / "rgba.png").shape == (4, 4, 3)
    noisy = np.array([[0, 20, 127], [128, 200, 255]], np.uint8)
    Image.fromarray(noisy).save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png").tolist() == [[False, False, False], [True, True, True]]


def bad_folder(tmp_path: Path) -> Path:
    for stem in ("good1", "good2", "nomask", "corrupt", "othersize"):
        write_pair(tmp_path, stem)
    (tmp_path / "masks" / "nomask.png").unlink()
    data = (tmp_path / "images" / "corrupt.jpg").read_bytes()
    (tmp_path / "images" / "corrupt.jpg").write_bytes(data[: len(data) // 3])
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "masks" / "othersize.png")
    return tmp_path


def test_check_names_every_bad_file(tmp_path: Path) -> None:
    report = check_dataset(bad_folder(tmp_path))
    assert not report["usable"] and report["pairs"] == 4 and report["usable_pairs"] == 2
    text = "\n".join(report["errors"])
    assert "nomask.jpg: no mask" in text
    assert "corrupt.jpg: cannot decode image" in text
    assert "othersize.png: mask is 10x10 but its image is 64x48" in text


def test_check_cli_exit_codes(tmp_path: Path, synthetic_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "check", str(synthetic_dir)]) == 0
    assert "pairs found: 24, usable: 24" in capsys.readouterr().out
    assert main(["data", "check", str(bad_folder(tmp_path)), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["usable_pairs"] == 2


def test_training_refuses_bad_pairs_unless_skipped(tmp_path: Path) -> None:
    root = bad_folder(tmp_path)
    (root / "images" / "nomask.jpg").unlink()
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["good1", "good2", "corrupt", "othersize"], "test": []}))
    with pytest.raises(DataError, match="corrupt.jpg"):
        load_training_data(root, str(split), size=32, val_fraction=0)
    with pytest.warns(UserWarning, match="skipped pair"):
        data = load_training_data(root, str(split), size=32, val_fraction=0, skip_bad=True)
    assert data.train.ids == ["good1", "good2"]


def test_cache_reuses_and_invalidates(tmp_path: Path, synthetic_dir: Path) -> None:
    root = tmp_path / "ds"
    shutil.copytree(synthetic_dir, root)
    samples = find_pairs(root).samples[:4]
    first = load_samples(samples, 32, tmp_path / "c")
    assert len(list((tmp_path / "c").glob("*.npz"))) == 1
    again = load_samples(samples, 32, tmp_path / "c")
    assert np.array_equal(first.images, again.images)
    assert again.ids == first.ids and all(type(i) is str for i in again.ids)  # checkpoints store them
    load_samples(samples, 64, tmp_path / "c")
    assert len(list((tmp_path / "c").glob("*.npz"))) == 2  # another size, another entry
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(samples[0].image)
    os.utime(samples[0].image, ns=(time.time_ns(), time.time_ns() + 10**9))
    changed = load_samples(samples, 32, tmp_path / "c")
    assert changed.images[0].max() == 0 and not np.array_equal(changed.images, first.images)


def test_resized_masks_stay_binary(synthetic_dir: Path) -> None:
    arrays = load_samples(find_pairs(synthetic_dir).samples[:3], 32)
    assert set(np.unique(arrays.masks)) <= {0, 1} and arrays.images.dtype == np.uint8


def test_augmentation_moves_image_and_mask_together() -> None:
    g = torch.Generator().manual_seed(0)
    masks = torch.zeros(16, 1, 32, 32)
    masks[:, :, 4:12, 6:20] = 1
    images = masks.repeat(1, 3, 1, 1)
    out_images, out_masks = augment(images, masks, g, p_rotate=1.0)
    assert set(out_masks.unique().tolist()) <= {0.0, 1.0}
    agree = ((out_images[:, :1] > 0.5) == (out_masks > 0.5)).float().mean()
    assert agree > 0.99
    angles_differ = len({tuple(m.flatten().nonzero().flatten()[:5].tolist()) for m in out_masks}) > 4
    assert angles_differ  # every sample draws its own geometry


def test_augmentation_runs_where_the_batch_is() -> None:
    """Draws come from the CPU generator, the warp runs on the batch's device (a GPU in training);
    the meta device stands in for one here: a warp left on the CPU would fail to mix devices."""
    g = torch.Generator().manual_seed(0)
    images = to_model_input(torch.zeros(2, 8, 8, 3, dtype=torch.uint8, device="meta"))
    out_images, out_masks = augment(images, torch.zeros(2, 1, 8, 8, device="meta"), g)
    assert out_images.device.type == out_masks.device.type == "meta"
    assert out_images.shape == (2, 3, 8, 8)


def test_splits(synthetic_dir: Path, tmp_path: Path) -> None:
    ds = find_pairs(synthetic_dir)
    random_split = resolve_split("random", ds)
    assert set(random_split["train"]).isdisjoint(random_split["test"]) and len(random_split["test"]) == 5
    train, val = train_val_ids(random_split, ds, 0.25)
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(random_split["train"])
    assert resolve_split("all", ds)["test"] == ds.ids
    with pytest.raises(DataError, match="'paper' split"):
        resolve_split("paper", ds)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train": ["synth_0000"], "test": ["synth_0000"]}))
    with pytest.raises(DataError, match="both train and test"):
        resolve_split(str(bad), ds)


def test_packaged_paper_splits() -> None:
    kvasir, cvc = packaged_split("kvasir-seg_microaunet"), packaged_split("cvc-clinicdb_microaunet")
    bkai = packaged_split("bkai-neopolyp")
    assert (len(kvasir["train"]), len(kvasir["test"])) == (800, 200)
    assert (len(cvc["train"]), len(cvc["test"])) == (489, 123)
    assert (len(bkai["train"]), len(bkai["test"])) == (800, 200)
    for split in (kvasir, cvc, bkai):
        assert set(split["train"]).isdisjoint(split["test"])


def test_colour_coded_masks_read_red_and_green_as_polyp(tmp_path: Path) -> None:
    truth = write_bkai_published(tmp_path, 3)
    ds = find_pairs(tmp_path)  # train/train + train_gt/train_gt; test/ (no masks) is not part of it
    assert ds.image_dir == tmp_path / "train" / "train" and ds.mask_dir == tmp_path / "train_gt" / "train_gt"
    assert ds.ids == sorted(truth) and not ds.problems
    for sample in ds.samples:
        mask = read_mask(sample.mask)
        assert (mask == truth[sample.id]).mean() > 0.99  # JPEG blurs the outlines a little
        assert mask[6:10, 6:12].all()  # inside the pure red rectangle
        gray = np.asarray(Image.open(sample.mask).convert("L"))
        assert not (gray >= MASK_THRESHOLD)[6:10, 6:12].any()  # what a gray reading would have made of red


def test_colour_detection_leaves_gray_and_white_on_colour_masks_alone(tmp_path: Path) -> None:
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[2:6, 2:6] = (200, 200, 200)
    rgb[0, 0] = (255, 0, 0)  # one stray coloured pixel does not make a colour-coded mask
    Image.fromarray(rgb).save(tmp_path / "gray_rgb.png")
    assert read_mask(tmp_path / "gray_rgb.png").sum() == 16


def test_check_reports_colour_coded_masks(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_bkai_published(tmp_path, 4)
    report = check_dataset(tmp_path)
    ms = report["masks_stats"]
    assert report["usable"] and report["usable_pairs"] == 4
    assert ms["colour_coded_masks"] == 4 and ms["red_pixels"] > 0 and ms["green_pixels"] > 0
    assert main(["data", "check", str(tmp_path)]) == 0
    assert "colour-coded masks: 4 of 4" in capsys.readouterr().out


@pytest.mark.parametrize("parts,folder", [(("Kvasir-SEG",), "masks"), (("CVC-ClinicDB", "PNG"), "Ground Truth")])
def test_real_gray_masks_read_as_before(parts: tuple[str, ...], folder: str) -> None:
    """The colour-coded reading never fires on Kvasir-SEG's JPEG or CVC-ClinicDB's PNG masks: a sample of
    files reads exactly as the gray threshold did (PIL's gray value >= 128)."""
    files = sorted((real_dataset(*parts) / folder).iterdir())[::25]
    for path in files:
        before = np.asarray(Image.open(path).convert("L")) >= MASK_THRESHOLD
        assert np.array_equal(read_mask(path), before), path


def test_check_says_plainly_what_mask_values_mean(tmp_path: Path) -> None:
    """Masks with noise near 0 and 255 (as Kvasir-SEG's JPEGs) are fine; grey edges are counted; clean masks
    are called clean."""
    for stem in ("a", "b"):
        write_pair(tmp_path / "noisy", stem)
        write_pair(tmp_path / "png", stem)
        mask = np.asarray(Image.open(tmp_path / "noisy" / "masks" / f"{stem}.png"))
        noise = np.random.default_rng(0).integers(0, 12, mask.shape, dtype=np.uint8)
        Image.fromarray(np.where(mask > 0, 255 - noise, noise).astype(np.uint8)).save(
            tmp_path / "noisy" / "masks" / f"{stem}.png")
    jpeg = format_report(check_dataset(tmp_path / "noisy"))
    assert "2 of 2 masks hold more than two grey values, all within 16 of 0 or of 255" in jpeg, jpeg
    assert "not a problem" in jpeg and "strictly" not in jpeg
    assert "every mask holds two values only" in format_report(check_dataset(tmp_path / "png"))
    assert "of mask pixels lie between 16 and 240" in mask_values(10, 2, 0.02)


@pytest.mark.parametrize("parts,pairs", [(("Kvasir-SEG",), 1000), (("CVC-ClinicDB", "PNG"), 612),
                                         (("BKAI-NeoPolyp",), 1000)])
def test_real_datasets_check(parts: tuple[str, ...], pairs: int) -> None:
    report = check_dataset(real_dataset(*parts))
    assert report["usable"] and report["usable_pairs"] == pairs and not report["errors"]
    if parts == ("Kvasir-SEG",):  # JPEG masks: never two-valued, always within the noise band
        assert "binarising at 128 recovers them exactly, not a problem" in format_report(report)


def test_real_paper_and_sequence_splits() -> None:
    kvasir = find_pairs(real_dataset("Kvasir-SEG"))
    assert resolve_split("paper", kvasir) == packaged_split("kvasir-seg_microaunet")
    cvc = find_pairs(real_dataset("CVC-ClinicDB", "PNG"))
    assert resolve_split("paper", cvc) == packaged_split("cvc-clinicdb_microaunet")
    bkai = find_pairs(real_dataset("BKAI-NeoPolyp"))
    assert resolve_split("paper", bkai) == packaged_split("bkai-neopolyp")
    seq = resolve_split("sequence", cvc)
    seq_of = {s.id: s.sequence for s in cvc.samples}
    train_seqs, test_seqs = {seq_of[i] for i in seq["train"]}, {seq_of[i] for i in seq["test"]}
    assert train_seqs.isdisjoint(test_seqs) and 0.18 < len(seq["test"]) / 612 < 0.35
    train, val = train_val_ids(seq, cvc, 0.1)
    assert {seq_of[i] for i in train}.isdisjoint({seq_of[i] for i in val})
