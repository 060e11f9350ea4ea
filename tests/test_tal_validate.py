"""Bad input to the TAL reference: one `DiagnosticsError` line naming the first offending
image, row and field, through `assign` and through the assigner factory alike."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import torch

from yolo_diagnostics.errors import DiagnosticsError
from yolo_diagnostics.tal import TalProblem, assign, check, make_assigner, validate_inputs
from yolo_diagnostics.tal.corpus import TalBatch, make_batch

PROBLEM = TalProblem.preset("ultralytics", num_classes=4, batch_size=2, img_size=(96, 128))
NA = PROBLEM.num_anchors  # 192 + 48 + 12 = 252


def good() -> TalBatch:
    """Two images, 4 rows each, row 3 of image 0 and rows 2-3 of image 1 padding."""
    batch = make_batch(PROBLEM, seed=0, kind="random", n=4, padding="none")
    batch.mask_gt[0, 3] = 0
    batch.mask_gt[1, 2:] = 0
    return batch


def change(field: str, edit: Callable[[torch.Tensor], object]) -> TalBatch:
    batch = good()._asdict()
    batch[field] = edit(batch[field].clone())
    return TalBatch(**batch)  # type: ignore[arg-type]


def put(index: tuple[int, ...], value: float) -> Callable[[torch.Tensor], torch.Tensor]:
    def edit(t: torch.Tensor) -> torch.Tensor:
        t[index] = value
        return t

    return edit


def flip_x(image: int, row: int) -> Callable[[torch.Tensor], torch.Tensor]:
    def edit(t: torch.Tensor) -> torch.Tensor:
        t[image, row, 2] = t[image, row, 0] - 1
        return t

    return edit


SHAPE = "(batch_size 2, 252 anchor points, 4 classes)"
CENTRES = "the cell centres (i + 0.5) * stride of the problem's strides (8, 16, 32) at 96x128"

# (input, how it is broken, the whole message; "..." stands for any text)
CASES = [
    ("pd_scores", lambda t: t.tolist(), "pd_scores: expected a torch.Tensor, got list"),
    (
        "pd_scores",
        lambda t: t[..., :3],
        f"pd_scores: expected shape (b, na, nc) = [2, 252, 4] {SHAPE}, got [2, 252, 3]",
    ),
    (
        "pd_bboxes",
        lambda t: t[:1],
        f"pd_bboxes: expected shape (b, na, 4) = [2, 252, 4] {SHAPE}, got [1, 252, 4]",
    ),
    (
        "anc_points",
        lambda t: t[:-1],
        f"anc_points: expected shape (na, 2) = [252, 2] {SHAPE}, got [251, 2]",
    ),
    (
        "gt_labels",
        lambda t: t[:, :3],
        f"gt_labels: expected shape (b, n, 1) = [2, 4, 1] {SHAPE}, got [2, 3, 1]",
    ),
    (
        "mask_gt",
        lambda t: t[..., 0],
        f"mask_gt: expected shape (b, n, 1) = [2, 4, 1] {SHAPE}, got [2, 4]",
    ),
    ("pd_bboxes", lambda t: t.long(), "pd_bboxes: expected a floating dtype, got torch.int64"),
    ("gt_labels", lambda t: t.bool(), "gt_labels: expected a real number dtype, got torch.bool"),
    (
        "gt_bboxes",
        lambda t: t.to("meta"),
        "gt_bboxes: expected a dense tensor holding values, got one on the meta device",
    ),
    (
        "pd_scores",
        put((1, 7, 2), float("nan")),
        "pd_scores image 1, anchor 7, class 2: must be finite, got nan",
    ),
    (
        "pd_scores",
        put((0, 9, 0), 1.5),
        "pd_scores image 0, anchor 9, class 0: must be a probability in [0, 1], got 1.5",
    ),
    (
        "pd_scores",
        put((1, 0, 3), -0.25),
        "pd_scores image 1, anchor 0, class 3: must be a probability in [0, 1], got -0.25",
    ),
    (
        "pd_bboxes",
        put((1, 3, 3), float("inf")),
        "pd_bboxes image 1, anchor 3, field 'y2': must be finite, got inf",
    ),
    (
        "pd_bboxes",
        flip_x(0, 3),
        "pd_bboxes image 0, anchor 3, field 'x2': must be >= x1 = ..., got ...",
    ),
    (
        "anc_points",
        put((5, 0), 45.0),
        f"anc_points anchor 5, field 'x': expected 44.0 ({CENTRES}), got 45.0",
    ),
    (
        "anc_points",
        lambda t: t.flip(0),
        f"anc_points anchor 0, field 'x': expected 4.0 ({CENTRES}), got 112.0",
    ),
    ("gt_labels", put((0, 1, 0), 4.0), "gt_labels image 0, row 1: must be in [0, 4), got 4.0"),
    ("gt_labels", put((1, 0, 0), -1.0), "gt_labels image 1, row 0: must be in [0, 4), got -1.0"),
    (
        "gt_labels",
        put((0, 2, 0), 1.5),
        "gt_labels image 0, row 2: must be an integer class id, got 1.5",
    ),
    # a padding row's label is read too (background rows gather row 0's)
    ("gt_labels", put((1, 3, 0), 7.0), "gt_labels image 1, row 3: must be in [0, 4), got 7.0"),
    ("mask_gt", put((1, 0, 0), 2.0), "mask_gt image 1, row 0: must be 0 or 1, got 2.0"),
    ("mask_gt", put((0, 1, 0), 0.5), "mask_gt image 0, row 1: must be 0 or 1, got 0.5"),
    (
        "gt_bboxes",
        put((0, 3, 0), float("nan")),
        "gt_bboxes image 0, row 3, field 'x1': must be finite, got nan",
    ),
    (
        "gt_bboxes",
        flip_x(1, 1),
        "gt_bboxes image 1, row 1, field 'x2': must be >= x1 = ..., got ...",
    ),
]


def whole(message: str) -> str:
    """``message`` as a regex matching all of it, "..." matching anything."""
    return "^" + ".*".join(re.escape(part) for part in message.split("...")) + "$"


@pytest.mark.parametrize(("field", "edit", "message"), CASES)
def test_bad_input_names_the_first_offender(field: str, edit, message: str) -> None:  # noqa: ANN001
    batch = change(field, edit)
    with pytest.raises(DiagnosticsError, match=whole(message)):
        assign(PROBLEM, *batch[:2], *batch[3:], anc_points=batch.anc_points)
    with pytest.raises(DiagnosticsError, match=whole(message)):
        make_assigner(PROBLEM, "cpu")(*batch)
    output = make_assigner(PROBLEM, "cpu")(*good())  # the invariants judge inputs first
    with pytest.raises(DiagnosticsError, match=whole(message)):
        check(PROBLEM, batch, output)


@pytest.mark.parametrize(
    ("field", "edit", "message"), [c for c in CASES if "torch.Tensor" not in c[2]][:6]
)
def test_a_tal_case_file_with_bad_input_is_one_line(
    field: str, edit, message: str, tmp_path, capsys
) -> None:  # noqa: ANN001
    """A case file is input too: ``show`` refuses it in one line naming the file and the
    first offender, exit 2, nothing written."""
    import json

    from yolo_diagnostics.cli import main
    from yolo_diagnostics.harness.cases import case_to_data, dumps_case
    from yolo_diagnostics.tal.contract.cases import case_of

    data = case_to_data("invariants", "cpu", case_of(PROBLEM, change(field, edit)))
    path = tmp_path / "case.json"
    path.write_text(dumps_case({"assigner": "yolo_diagnostics.tal.reference:make_assigner",
                                "case": json.loads(json.dumps(data))}))  # fmt: skip
    with pytest.raises(SystemExit) as stop:
        main(["show", str(path), "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert re.search(whole(f"yolo-diagnostics: error: {path}: the case does not load: {message}"),
                     err.rstrip("\n"))  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.json"]


def test_good_input_and_inert_padding_pass() -> None:
    batch = good()
    validate_inputs(PROBLEM, *batch)
    batch = change("gt_bboxes", flip_x(1, 3))  # a flipped padded row is never looked at
    validate_inputs(PROBLEM, *batch)
    bool_mask = change("mask_gt", lambda t: t.bool())
    long_labels = change("gt_labels", lambda t: t.long())
    validate_inputs(PROBLEM, *bool_mask)
    validate_inputs(PROBLEM, *long_labels)


def test_the_first_image_is_named_when_several_are_bad() -> None:
    batch = change("pd_scores", put((1, 0, 0), float("nan")))
    batch.pd_scores[0, 200, 1] = 2.0  # later anchor, earlier image, a later rule
    with pytest.raises(
        DiagnosticsError, match=r"^pd_scores image 1, anchor 0, class 0: must be finite"
    ):
        validate_inputs(PROBLEM, *batch)
    batch.pd_scores[1, 0, 0] = 0.5
    with pytest.raises(
        DiagnosticsError, match=r"^pd_scores image 0, anchor 200, class 1: must be a probability"
    ):
        validate_inputs(PROBLEM, *batch)


def test_unknown_semantics() -> None:
    batch = good()
    with pytest.raises(
        DiagnosticsError,
        match=r"^semantics: expected one of \('ultralytics', 'strict'\), got 'v8'$",
    ):
        assign(PROBLEM, *batch[:2], *batch[3:], semantics="v8")  # type: ignore[arg-type]
    with pytest.raises(DiagnosticsError, match="semantics"):
        make_assigner(PROBLEM, "cpu", semantics="v8")  # type: ignore[arg-type]
