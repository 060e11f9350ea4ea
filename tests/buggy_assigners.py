"""Assigner factories with bugs real code has had, for the command-line tests."""

from __future__ import annotations

from yolo_diagnostics.reference import make_assigner


def anchors_in_pixels(problem, device):
    """Returns anch in pixels instead of grid units (anchors never divided by the stride)."""
    build = make_assigner(problem, device)

    def build_targets(p, targets):
        tcls, tbox, indices, anch = build(p, targets)
        return tcls, tbox, indices, [a * s for a, s in zip(anch, problem.strides)]

    return build_targets


def crashes_on_empty(problem, device):
    """Indexes the first target unconditionally, like the empty-batch crash of yolov5 #609."""
    build = make_assigner(problem, device)

    def build_targets(p, targets):
        targets[0]
        return build(p, targets)

    return build_targets
