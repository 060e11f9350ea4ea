"""What a failing TAL contract case leaves behind: its overlay and the HTML of its report row.

As the anchor family's `report.contract`: the case is run again, its findings judged, and
drawn (`render.tal`): one image of the batch, every level, offending anchors in red, and a
close-up of them when the input is large; the HTML holds the close-up at its own size and
the full overlay a click away. Shared by the pytest-html attachment and
``yolo-diagnostics show CASE.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..harness.property import ContractFailure
from .contract import _TEMPLATES, _picture


@dataclass(frozen=True)
class TalOverlay:
    """The failing case judged again: the PNG, its close-up (or None) and what was drawn."""

    png: bytes
    closeup: bytes | None
    image: int
    violations: tuple[Any, ...]
    note: str | None = None


def tal_overlay(options: Any, device: str, case: dict[str, Any]) -> TalOverlay:
    """Run the assigner on the case again and draw the image that holds the first failing
    finding (or the first anchor whose owner differs from the reference's)."""
    from ..render.tal import render_tal, render_tal_closeup  # only when a report asks for it
    from ..tal.contract.base import Declined, call, reference_of
    from ..tal.contract.cases import batch_of
    from ..tal.invariants import check

    problem, batch = case["problem"], batch_of(case)
    try:
        output: Any = call(options, device, problem, batch)
        note = None
    except (ContractFailure, Declined) as error:
        output, note = None, f"the assigner raised: {error}"
    violations: tuple[Any, ...] = ()
    reference = None
    if output is not None:
        found = check(problem, batch, output, strict=options.strict)
        violations = tuple(v for v in found if v.fails)
        try:
            reference = reference_of(options, problem, batch)
        except ValueError:  # the reference refuses what the assigner took: draw without it
            reference = None
    image = _image_of_interest(violations, reference, output)
    # the background convention names every background anchor: listed, not drawn in red
    red = tuple(v for v in violations if v.check not in _LISTED_ONLY)
    drawn = dict(image=image, violations=red, reference=reference)
    png = render_tal(problem, batch, output, **drawn)
    closeup = render_tal_closeup(problem, batch, output, **drawn) if output is not None else None
    return TalOverlay(png, closeup, image, violations, note)


_LISTED_ONLY = ("background",)
"""Checks whose findings cover whole images (the background rows' convention): the report
lists them, the overlay does not paint their anchors red over the ones that matter."""


def _image_of_interest(violations: tuple[Any, ...], reference: Any, output: Any) -> int:
    """The image of the first failing finding that names one, else of the first anchor
    whose foreground or owner differs from the reference's, else image 0."""
    for v in violations:
        if v.image is not None and v.check not in _LISTED_ONLY:
            return int(v.image)
    if reference is not None and isinstance(output, tuple) and len(output) == 5:
        fg, idx = output[3].bool(), output[4].long()
        if fg.shape == reference.fg_mask.shape:
            differs = (fg != reference.fg_mask) | (fg & (idx != reference.target_gt_idx.long()))
            if differs.any():
                return int(differs.nonzero()[0, 0])
    return 0


def tal_failure_html(
    options: Any, device: str, failure: ContractFailure, found: TalOverlay, reproduce: str | None
) -> str:
    """The failing check, the close-up at its own size (legible in the row) when there is
    one, the full overlay a click away, and the failing findings, as escaped HTML."""
    case = failure.case or {}
    return _TEMPLATES.get_template("tal_failure.html.j2").render(
        overlay=_picture(found.png),
        closeup=None if found.closeup is None else _picture(found.closeup),
        image=found.image,
        note=found.note,
        property=case.get("property", "?"),
        check=failure.check,
        message=failure.message,
        assigner=options.assigner,
        device=device,
        reference=options.reference or "none",
        strict=options.strict,
        reproduce=reproduce,
        violations=[str(v) for v in found.violations],
        limit=50,
    )
