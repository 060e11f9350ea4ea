"""``bench assign``'s printed tables: median ms, ratios to the baseline, peak memory."""

from __future__ import annotations

from .assign import AMORTIZED, AssignResult


def format_tables(result: AssignResult) -> str:
    """Median milliseconds per call, the ratios, and the peak memory, as text tables."""
    rows = result.per_nt
    names = list(rows[0].times_s) if rows else []
    lines = ["median ms per call (rounds: timed calls of each, interleaved)"]
    width = {name: max(9, len(name)) for name in names}
    lines.append(f"{'nt':>7} {'rounds':>6} " + " ".join(f"{n:>{width[n]}}" for n in names))
    for row in rows:
        median = row.median_s
        cells = " ".join(f"{median[n] * 1e3:>{width[n]}.3f}" for n in names)
        lines.append(f"{row.nt:>7} {row.rounds:>6} {cells}")
    terms = list(result.ratio_terms)
    if terms:
        lines.append("")
        amortized = (
            f" (guard{AMORTIZED}: to {result.baseline}x{AMORTIZED})" if "guard1" in names else ""
        )
        lines.append(f"ratio of medians to {result.baseline}{amortized}")
        rwidth = {t: max(8, len(t)) for t in terms}
        lines.append(f"{'nt':>7} " + " ".join(f"{t:>{rwidth[t]}}" for t in terms))
        for row in rows:
            ratios = result.ratios(row)
            cells = " ".join(_ratio_cell(ratios[t], rwidth[t]) for t in terms)
            lines.append(f"{row.nt:>7} {cells}")
    if result.peak_bytes:
        lines.append("")
        lines.append(f"peak memory above baseline during one call, nt={max(result.config.nts)}")
        for name, n in result.peak_bytes.items():
            lines.append(f"  {name:<16} {n / 2**20:>10.2f} MiB  ({n} bytes)")
    return "\n".join(lines)


def _ratio_cell(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.2f}"
