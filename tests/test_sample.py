"""The bundled real-photograph dataset: its two formats agree, YOLOv5's own dataloader builds
the same inputs and targets from it as ours, and its boxes meet the fates fixtures/README.md
gives them."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from yolo_diagnostics import Problem
from yolo_diagnostics.data import load_coco, load_yolo
from yolo_diagnostics.data.imagesize import image_size
from yolo_diagnostics.data.sample import SAMPLE, SAMPLE_COCO, SAMPLE_IMAGES, SAMPLE_YAML
from yolo_diagnostics.data.training import TrainingInputs
from yolo_diagnostics.scan import REASONS, scan_dataset, summary


def by_file(ds):
    return {Path(f).name: k for k, f in enumerate(ds.image_files)}


def test_coco_and_yolo_formats_hold_the_same_boxes() -> None:
    coco, yolo = load_coco(SAMPLE_COCO, SAMPLE_IMAGES), load_yolo(SAMPLE_YAML)
    assert coco.class_names == yolo.class_names and len(coco.class_names) == 80
    # 29 boxes in fixtures/make_sample.py's table, one of them crowd (bridge.jpg's deck chairs)
    assert coco.num_images == yolo.num_images == 10 and coco.num_boxes == yolo.num_boxes == 28
    assert coco.skip_counts() == {"crowd (iscrowd: 1)": 1} and yolo.skipped == []
    for name, k in by_file(coco).items():
        j = by_file(yolo)[name]
        assert (
            coco.sizes[k].tolist() == yolo.sizes[j].tolist() == list(image_size(coco.image_path(k)))
        )
        a, b = coco.boxes_of(k), yolo.boxes_of(j)
        assert coco.box_class[a].tolist() == yolo.box_class[b].tolist()
        np.testing.assert_allclose(coco.boxes[a], yolo.boxes[b], atol=1e-6)


@pytest.mark.parametrize("size", [640, 320])
def test_equal_to_yolov5_load_images_and_labels(size: int, tmp_path: Path) -> None:
    """YOLOv5's LoadImagesAndLabels (augment=False, rect=False) on the YOLO files: the same
    letterboxed pixels and the same targets, bit for bit."""
    if importlib.util.find_spec("yolov5") is None:
        pytest.skip("needs the yolov5 package (tox -e adapters, or the README's test command)")
    from yolo_diagnostics.adapters._support import offline_import

    with offline_import():
        from yolov5.utils.dataloaders import LoadImagesAndLabels

    copy = tmp_path / "sample"  # YOLOv5 writes a labels.cache beside the labels
    shutil.copytree(SAMPLE, copy)
    theirs = LoadImagesAndLabels(
        str(copy / "images"), img_size=size, batch_size=4, augment=False, hyp=None, rect=False
    )
    ours = TrainingInputs(load_yolo(copy), (size, size))
    index = by_file(ours.dataset)
    assert sorted(index) == sorted(Path(f).name for f in theirs.im_files)
    for i, file in enumerate(theirs.im_files):
        image, labels, _, _ = theirs[i]
        mine = ours[index[Path(file).name]]
        assert torch.equal(image, mine.image), file
        assert sorted(map(tuple, labels.tolist())) == sorted(map(tuple, mine.targets.tolist()))


def test_fates_at_640() -> None:
    """8 of 28 targets unmatched: the 7 boats of china.jpg at most 2.5 px wide or 3.25 px tall
    (the 10 x 13 anchor over anchor_t = 4) are too small, and wine_crop.jpg's bottle sliver,
    8 x 256 px of a 617 x 1200 image, is 4.3 x 136.5 network pixels: taller than 4 x 30 for
    every stride-8 anchor and thinner than 30 / 4 for every other one, so aspect. The crowd
    box is skipped."""
    ds = load_coco(SAMPLE_COCO, SAMPLE_IMAGES)
    result = scan_dataset(ds, Problem.preset("yolov5-p5"))
    s = summary(result)
    assert (s["images"], s["targets"], s["unmatched_targets"]) == (10, 28, 8)
    assert s["skipped_annotations"] == {"crowd (iscrowd: 1)": 1}
    assert s["unmatched_by_reason"] == {"too-small": 7, "too-large": 0, "aspect": 1}
    assert s["bpr_realized"] == 1 - 8 / 28
    lost = {
        (Path(ds.image_files[result.image[i]]).name, ds.class_names[result.cls[i]])
        for i in np.flatnonzero(result.unmatched)
    }
    assert lost == {("china.jpg", "boat"), ("wine_crop.jpg", "bottle")}
    bottle = ds.class_names.index("bottle")
    sliver = [i for i in np.flatnonzero(result.unmatched) if result.cls[i] == bottle]
    assert [REASONS[result.reason[i]] for i in sliver] == ["aspect"]
