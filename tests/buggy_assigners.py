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


def hangs_on_many_targets(problem, device):
    """Loops forever once a batch has more than three targets (a hang, not a crash)."""
    build = make_assigner(problem, device)

    def build_targets(p, targets):
        while len(targets) > 3:
            pass
        return build(p, targets)

    return build_targets


NOT_A_FACTORY = 42
"""Not callable: ``--assigner buggy_assigners:NOT_A_FACTORY`` is refused when loaded."""


def factory_raises(problem, device):
    """The factory itself fails (a missing weights file, say)."""
    raise RuntimeError("cannot build the loss: no hyp.yaml")


def build_targets_raises(problem, device):
    """``build_targets`` fails on every call."""

    def build_targets(p, targets):
        raise KeyError("anchor_t")

    return build_targets


def returns_none(problem, device):
    """Returns ``None``: no ``(tcls, tbox, indices, anch)`` at all."""
    return lambda p, targets: None


def returns_three_lists(problem, device):
    """Leaves ``anch`` out: a 3-tuple."""
    build = make_assigner(problem, device)

    def build_targets(p, targets):
        return build(p, targets)[:3]

    return build_targets


def returns_numpy_indices(problem, device):
    """Returns the indices as NumPy arrays rather than tensors."""
    build = make_assigner(problem, device)

    def build_targets(p, targets):
        tcls, tbox, indices, anch = build(p, targets)
        return tcls, tbox, [tuple(t.numpy() for t in level) for level in indices], anch

    return build_targets


def returns_meta_tensors(problem, device):
    """Returns every tensor on the ``meta`` device: a wrong device without a GPU."""
    build = make_assigner(problem, device)

    def build_targets(p, targets):
        tcls, tbox, indices, anch = build(p, targets)
        meta = lambda ts: [t.to("meta") for t in ts]  # noqa: E731
        return meta(tcls), meta(tbox), [tuple(meta(level)) for level in indices], meta(anch)

    return build_targets


def returns_meta_anchors(problem, device):
    """Returns ``anch`` on the ``meta`` device, the rest on the targets' device."""
    build = make_assigner(problem, device)

    def build_targets(p, targets):
        tcls, tbox, indices, anch = build(p, targets)
        return tcls, tbox, indices, [a.to("meta") for a in anch]

    return build_targets


def no_p6(problem, device):
    """A correct yolov5-rule assigner that declares 4-level (P6) problems not applicable."""
    from yolo_diagnostics import NotApplicable

    if problem.nl == 4:
        raise NotApplicable("4 levels: this loss is not written for P6 heads")
    return make_assigner(problem, device)


def declines_everything(problem, device):
    """Declares every problem not applicable, from inside build_targets."""
    from yolo_diagnostics import NotApplicable

    def build_targets(p, targets):
        raise NotApplicable("this loss implements no rule the contract draws")

    return build_targets
