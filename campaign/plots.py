"""Charts of the statistics: each ``plot_*`` draws on ``ax`` (a new figure if None) and
returns the matplotlib Axes; nothing here calls ``plt.show()`` or changes ``rcParams``.

Every function takes as its first argument the DataFrame of the matching estimator in
:mod:`campaign.stats`:

========================  ===========================================================
plot                      data
========================  ===========================================================
plot_delivery_rate        ``delivery_stats`` (or ``reply_stats``/``voice_stats`` with
                          ``rate="reply_rate"`` ...): bars with 95% interval whiskers,
                          each group's n under it, largest first, 未知 last
plot_delivery_curve       ``delivery_curve``: cumulative share delivered vs time since send
plot_latency              ``latency_distribution``: histogram, p50/p90/p99 marked
plot_failure_reasons      ``failure_reasons``: Pareto chart (bars + cumulative share)
plot_talk_time            ``talk_time_distribution``: histogram of talk seconds
plot_replies_by_hour      ``replies_by_hour``: replies and opt-outs per hour of the day
plot_funnel               ``funnel_stats``: numbers at each step, submitted to converted,
                          with each step's share of the one before (and the holdout's
                          conversion rate beside the campaign's)
========================  ===========================================================

Group columns (the ``by`` of the statistics) are read from ``frame.attrs["by"]``, which
every function of :mod:`campaign.stats` sets, so a contact-list column called ``hour`` or
``count`` is still a group; a frame built by hand without it falls back to taking every
column that is not a known statistic for a group.

Plots draw only what they are given (they never read the store: ``campaign.stats`` and
``campaign.plots`` are sibling layers), so the data of a chart is always a frame you can
look at. The distributions come as histograms (one row per whole second), small whatever
the size of the campaign: ``cp.plot_latency(cp.latency_distribution(db, by="carrier"))``.

Chinese labels (移动, 广东 ...): matplotlib's default font has no Chinese glyphs, so they
would render as boxes. The charts use Noto Sans CJK SC (SIL Open Font License) shipped in
the ``mplfonts`` package (a dependency): at plot time its file is registered with
matplotlib's font manager and set on the texts of the Axes drawn here, as a fallback after
DejaVu Sans (Latin letters and digits keep matplotlib's look). Nothing global is changed:
no ``rcParams``, no ``mplfonts.use_font``. Without ``mplfonts``, a CJK font installed on
the system (Noto CJK, Source Han, WenQuanYi, SimHei, Microsoft YaHei, PingFang) is used;
with none, a warning says so. For your own Chinese titles, pass
``fontfamily=campaign.plots.cjk_fonts()``.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from campaign.errors import InputError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "cjk_fonts",
    "plot_delivery_curve",
    "plot_delivery_rate",
    "plot_failure_reasons",
    "plot_funnel",
    "plot_latency",
    "plot_replies_by_hour",
    "plot_talk_time",
]

log = logging.getLogger(__name__)

#: Beyond this many bars or lines a chart is hard to read: a warning suggests a coarser by=.
READABLE = 40
UNKNOWN = "未知"

_FONT_FILE = "NotoSansCJKsc-Regular.otf"
_SYSTEM_CJK = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
    "Noto Sans CJK JP",
)
#: Only for frames without ``attrs["by"]`` (built by hand): the columns taken for numbers.
_METRIC_COLUMNS = {
    "submitted",
    "delivered",
    "failed",
    "unknown",
    "pending",
    "reported",
    "delivery_rate",
    "ci_low",
    "ci_high",
    "reported_rate",
    "reported_ci_low",
    "reported_ci_high",
    "repliers",
    "replies",
    "opt_outs",
    "repliers_without_receipt",
    "reply_rate",
    "reply_ci_low",
    "reply_ci_high",
    "opt_out_rate",
    "opt_out_ci_low",
    "opt_out_ci_high",
    "calls",
    "answered",
    "answer_rate",
    "answer_ci_low",
    "answer_ci_high",
    "reported_answer_rate",
    "reported_answer_ci_low",
    "reported_answer_ci_high",
    "talk_mean",
    "talk_p50",
    "talk_p90",
    "seconds",
    "share",
    "receipts",
    "talk_seconds",
    "hour",
    "reason",
    "count",
    "codes",
    "mean",
    "p50",
    "p90",
    "p99",
}


# --------------------------------------------------------------------------- fonts


@functools.cache
def cjk_fonts() -> list[str]:
    """The font family list the charts use: DejaVu Sans, then a font with Chinese glyphs.

    Registers the Noto Sans CJK SC file shipped by ``mplfonts`` with matplotlib's font
    manager (once per process; ``rcParams`` untouched). Pass it as ``fontfamily=`` to your
    own texts.

    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> title = ax.set_title("双11 送达率", fontfamily=cp.plots.cjk_fonts())
    """
    from matplotlib import font_manager

    path = _bundled_font()
    if path is not None:
        font_manager.fontManager.addfont(str(path))
        return ["DejaVu Sans", font_manager.FontProperties(fname=str(path)).get_name()]
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in _SYSTEM_CJK:
        if name in installed:
            return ["DejaVu Sans", name]
    warnings.warn(
        "no font with Chinese glyphs found: labels such as 移动 will show as boxes; "
        "pip install mplfonts (a dependency of campaign) or a CJK font",
        UserWarning,
        stacklevel=3,
    )
    return ["DejaVu Sans"]


def _bundled_font() -> Path | None:
    spec = importlib.util.find_spec("mplfonts")  # located, not imported: it sets rcParams
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "fonts" / _FONT_FILE
        if path.is_file():
            return path
    return None


def _fonts(ax: Axes) -> Axes:
    """Give every text of ``ax`` (titles, labels, ticks, bar labels, legend) the CJK fonts."""
    family = cjk_fonts()
    ax.tick_params(labelfontfamily=family)
    texts = [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
    legend = ax.get_legend()
    if legend is not None:
        texts += [*legend.get_texts(), legend.get_title()]
    for text in texts:
        text.set_fontfamily(family)
    return ax


# --------------------------------------------------------------------------- helpers


def _axes(ax: Axes | None) -> Axes:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    return ax


def _group_columns(frame: pd.DataFrame) -> list[str]:
    """The group columns: those the stats function named in ``attrs["by"]`` (still in the
    frame); for a frame without it (built by hand), every column not known as a number."""
    by = frame.attrs.get("by")
    if isinstance(by, (list, tuple)):
        return [c for c in by if c in frame.columns]
    return [c for c in frame.columns if c not in _METRIC_COLUMNS]


def _label(values) -> str:
    parts = [
        UNKNOWN if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v) for v in values
    ]
    return " / ".join(parts)


def _groups(frame: pd.DataFrame, keys: list[str]):
    """(label, part) per group, in the frame's order; one group labelled 'all' if no keys."""
    if not keys:
        return [("all", frame)]
    labels = frame[keys].apply(lambda r: _label(r.tolist()), axis=1)
    return [(label, frame[labels == label]) for label in dict.fromkeys(labels)]


def _crowded(n: int, what: str) -> None:
    if n > READABLE:
        warnings.warn(
            f"{n} {what} make an unreadable chart: use a coarser by= or filter the frame",
            UserWarning,
            stacklevel=3,
        )


def _need(frame: pd.DataFrame, columns, source: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"this frame has no {', '.join(missing)} column: pass the output of {source}"
        )


def _legend(ax: Axes, **kwargs) -> None:
    """A legend only when something labelled was drawn: an empty frame draws nothing, and
    ``ax.legend()`` would warn "No artists with labels found to put in legend"."""
    handles, _labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(**kwargs)


def _repeated(labels: list[str]) -> list[str]:
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return [label for label, n in counts.items() if n > 1]


def _listed(values: list[str], most: int = 5) -> str:
    shown = ", ".join(values[:most])
    return shown + (f" and {len(values) - most} more" if len(values) > most else "")


def _time_unit(max_seconds: float) -> tuple[float, str]:
    if max_seconds > 3 * 3600:
        return 3600.0, "hours"
    if max_seconds > 180:
        return 60.0, "minutes"
    return 1.0, "seconds"


def _whole_numbers(ax: Axes, *, axis: str = "y") -> None:
    """Ticks of a count axis at whole numbers: no 2.5 messages when the counts are small."""
    from matplotlib.ticker import MaxNLocator

    which = ax.yaxis if axis == "y" else ax.xaxis
    which.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))


def _rate_ticks(ax: Axes) -> None:
    """Percent ticks on the y axis at steps of 1, 2 or 5 (80%, 85%; no 82.5%), with the
    decimals each needs."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _percent_text(v)))


def _percent(ax: Axes, axis: str = "y") -> None:
    from matplotlib.ticker import PercentFormatter

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0))


# --------------------------------------------------------------------------- charts


def _not_one_bar_per_row(frame: pd.DataFrame, x, keys: list[str], repeated: list[str]) -> str:
    """Why the bars of plot_delivery_rate would hide each other, and what to do instead."""
    if not keys:
        return (
            f"this frame has {len(frame)} rows and no group column to tell their bars apart: "
            "pass x= the column(s) that do, or the statistics of one group"
        )
    what = (
        f"{'are' if len(repeated) > 1 else 'is'} on several rows, whose bars would hide each other"
    )
    if x is None:
        return (
            f"{_listed(repeated)} {what}: draw a frame with one row per "
            f"{' / '.join(keys)}, as campaign.stats returns it (not several concatenated)"
        )
    groups = _group_columns(frame)
    rest = [c for c in groups if c not in keys]
    by = repr(keys[0]) if len(keys) == 1 else repr(keys)
    advice = f"compute the statistics with by={by} only"
    if rest:
        advice += (
            f", pass x={groups!r} for one bar per row, or filter the frame to one "
            f"{' / '.join(rest)}"
        )
    x_text = repr(x) if isinstance(x, str) else repr(list(x))
    return f"x={x_text} does not tell the rows apart: {_listed(repeated)} {what}; {advice}"


#: The count each rate is out of (its n), as campaign.stats computes it.
_DENOMINATORS = {
    "delivery_rate": "submitted",
    "reported_rate": "reported",
    "reply_rate": "delivered",
    "opt_out_rate": "delivered",
    "answer_rate": "calls",
    "reported_answer_rate": "reported",
}
#: Tick steps of a zoomed rate axis (fractions): the smallest that splits the data in three.
_RATE_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)


def _rate_limits(values: np.ndarray) -> tuple[float, float]:
    """The rate axis: 0 to 100%, unless the rates and whiskers (``values``) sit close
    together far from 0 (bottom raised) or far from 100% (top lowered). "Close" is a
    range of at most half the empty space it would leave, and at least 2 points wide."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.05
    low, high = float(finite.min()), float(finite.max())
    span = max(high - low, 0.02)
    step = next((s for s in _RATE_STEPS if s >= span / 3), _RATE_STEPS[-1])
    bottom = 0.0
    if low >= 2 * span:
        bottom = max(round(float(np.floor(round((low - span / 4) / step, 6)) * step), 6), 0.0)
    if 1 - high >= 2 * span:
        return bottom, round(float(np.ceil(round((high + span / 4) / step, 6)) * step), 6)
    return bottom, 1 + 0.05 * (1 - bottom)


def _percent_text(value: float) -> str:
    """85% for 0.85, 97.5% for 0.975: no decimals the value does not need."""
    return f"{value * 100:.2f}".rstrip("0").rstrip(".") + "%"


def _unknown(values) -> bool:
    return any(_label([v]) == UNKNOWN for v in values)


def _bar_order(frame: pd.DataFrame, keys: list[str], n: str | None, order) -> list[int]:
    """Row positions in drawing order: by size (n, largest first), 未知 last, or as given.

    By default groups that are numbers (send hour, batch) keep their own order."""
    if order not in (None, "size", "frame"):
        raise InputError(f"order={order!r}: use 'size' (largest first) or 'frame'")
    if order == "frame":
        return list(range(len(frame)))
    numbered = bool(keys) and all(pd.api.types.is_numeric_dtype(frame[k]) for k in keys)
    if order is None and (numbered or n is None):
        sizes = np.zeros(len(frame))
    else:
        if n is None:
            raise InputError("order='size' needs the counts of the rate: pass campaign.stats")
        sizes = -frame[n].to_numpy(dtype="float64")
    unknown = [_unknown(row) for row in frame[keys].itertuples(index=False)] if keys else []
    last = np.array(unknown, dtype=bool) if keys else np.zeros(len(frame), dtype=bool)
    return list(np.lexsort((np.nan_to_num(sizes, nan=np.inf), last)))


def plot_delivery_rate(
    stats_frame: pd.DataFrame,
    *,
    x: str | list[str] | None = None,
    rate: str = "delivery_rate",
    order: str | None = None,
    top: int | None = None,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Bars of a rate per group with 95% interval whiskers, each group's n under its bar.

    The rate axis runs from 0 to 100% unless every rate is close to the others: it then
    zooms to them, and its label says where it starts ("axis starts at 85%").

    Parameters
    ----------
    stats_frame
        From :func:`campaign.stats.delivery_stats` (or ``reply_stats``/``voice_stats``).
    x
        The group column(s) on the x axis; default every ``by`` column of the frame. They
        must tell the rows apart (one bar per row): with ``by=["campaign", "carrier"]``,
        ``x="carrier"`` raises InputError, as its bars would hide each other; compute the
        statistics with ``by="carrier"`` or filter the frame to one campaign.
    rate
        ``delivery_rate`` (whiskers ``ci_low``/``ci_high``), ``reported_rate``,
        ``reply_rate``, ``opt_out_rate`` or ``answer_rate`` (whiskers ``<name>_ci_low``/
        ``_ci_high``). The n under each bar is the count the rate is out of: submitted,
        reported, delivered (reply and opt-out rates) or calls.
    order
        ``"size"``: largest n first; ``"frame"``: the frame's order. Default: by size, but
        groups that are numbers (send hour, batch) in their own order. 未知 (unknown)
        comes last, except with ``"frame"``.
    top
        Draw only the ``top`` largest groups (by n); the title then says so ("20 largest
        of 31 province groups"), and only when groups were left out.
    kwargs
        Passed to ``Axes.bar``.

    Examples
    --------
    >>> by_carrier = cp.delivery_stats("campaign.db", by="carrier")
    >>> ax = cp.plot_delivery_rate(by_carrier)
    >>> [label.get_text().replace("\\n", " ") for label in ax.get_xticklabels()]
    ['中国移动 n=9,637', '中国联通 n=4,423', '中国电信 n=3,161', '中国广电 n=391', '未知 n=47']
    >>> ax = cp.plot_delivery_rate(cp.delivery_stats("campaign.db", by="province"), top=10)
    >>> ax.get_title()
    '10 largest of 32 province groups (by submitted)'
    """
    frame = stats_frame
    low, high = (
        ("ci_low", "ci_high")
        if rate == "delivery_rate"
        else (f"{rate.removesuffix('_rate')}_ci_low", f"{rate.removesuffix('_rate')}_ci_high")
    )
    _need(frame, [rate, low, high], "campaign.stats.delivery_stats")
    keys = [x] if isinstance(x, str) else list(x) if x is not None else _group_columns(frame)
    _need(frame, keys, "campaign.stats.delivery_stats with this by=")
    labels = (
        [_label(r) for r in frame[keys].itertuples(index=False)] if keys else ["all"] * len(frame)
    )
    repeated = _repeated(labels)
    if repeated:  # their bars would be drawn on top of each other, the last one showing
        raise InputError(_not_one_bar_per_row(frame, x, keys, repeated))
    n = _DENOMINATORS.get(rate)
    n = n if n in frame.columns else None
    if top is not None and (not isinstance(top, (int, np.integer)) or top < 1 or n is None):
        raise InputError(
            f"top={top!r}: pass a whole number of groups, 1 or more, with a frame of "
            "campaign.stats (its counts tell which groups are largest)"
        )
    rows = _bar_order(frame, keys, n, order)
    title = ""
    if top is not None and len(frame) > top:
        largest = set(np.argsort(-frame[n].to_numpy(dtype="float64"), kind="stable")[:top])
        rows = [r for r in rows if r in largest]
        title = f"{top} largest of {len(frame)} {' / '.join(keys)} groups (by {n})"
    frame = frame.iloc[rows]
    labels = [labels[r] for r in rows]
    slanted = len(labels) > 8  # names turned: n beside them, not under
    if n is not None:
        counts = frame[n].to_numpy(dtype="float64")
        under = " " if slanted else "\n"
        labels = [
            f"{label}{under}n={c:,.0f}" if c == c else label
            for label, c in zip(labels, counts, strict=True)
        ]
    _crowded(len(frame), "bars")
    ax = _axes(ax)
    values = frame[rate].to_numpy(dtype="float64")
    lows = frame[low].to_numpy(dtype="float64")
    highs = frame[high].to_numpy(dtype="float64")
    errors = np.vstack([values - lows, highs - values])
    kwargs.setdefault("color", "#3b7dd8")
    # a rate of 100% with ci_high 1.0 can differ in the last bit: whiskers are never negative
    whiskers = np.clip(np.nan_to_num(errors), 0.0, None)
    drawn = ax.bar(labels, values, yerr=whiskers, capsize=4, **kwargs)
    # one bar has nothing to be told apart from: its axis stays 0-100%
    bottom, upper = (
        _rate_limits(np.concatenate([values, lows, highs])) if len(values) > 1 else (0.0, 1.05)
    )
    ax.set_ylim(bottom, upper)
    if len(values) <= 8:  # more would overlap: the axis says it
        _rate_texts(ax, drawn, values, highs, bottom, upper)
    _rate_ticks(ax)
    ylabel = f"{rate.replace('_', ' ')} (95% CI)"
    if bottom > 0:  # the bars no longer start at 0: say so where the eye reads the scale
        ylabel += f", axis starts at {_percent_text(bottom)}"
    ax.set_ylabel(ylabel)
    if keys or n is not None:
        ax.set_xlabel(" / ".join(keys) + (f" (n = {n})" if n is not None else ""))
    if title:
        ax.set_title(title)
    if slanted:  # upright past 16 bars: at 45 degrees their names would run into each other
        turn = 90 if len(labels) > 16 else 45
        ax.set_xticks(range(len(labels)), labels, rotation=turn, ha="right", rotation_mode="anchor")
    return _fonts(ax)


def _rate_texts(ax: Axes, bars, values, highs, bottom: float, upper: float) -> None:
    """Each bar's rate, in the middle of what shows of the bar (on a patch of the bar's
    colour, so the whisker does not cross it); above the whisker (dark) when the bar is too
    short to hold it."""
    height = upper - bottom
    for i, (bar, v, h) in enumerate(zip(bars, values, highs, strict=True)):
        if v != v:
            continue
        if v - bottom >= 0.12 * height:
            patch = {"boxstyle": "round,pad=0.2", "facecolor": bar.get_facecolor(), "lw": 0}
            y, va, color = (bottom + v) / 2, "center", "white"
        else:
            patch, va, color = None, "bottom", "#333333"
            y = (h if h == h else v) + 0.02 * height
        ax.text(i, y, f"{v:.1%}", ha="center", va=va, fontsize="small", color=color, bbox=patch)


def plot_delivery_curve(
    data,
    *,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Cumulative share of submitted numbers delivered against time since the send.

    ``data`` is a frame from :func:`campaign.stats.delivery_curve`: one step line per
    group of its ``by`` columns (a frame missing one of them mixes curves: InputError).
    ``kwargs`` go to ``Axes.step``.

    Examples
    --------
    >>> curve = cp.delivery_curve("campaign.db", campaign="double11-A", by="carrier")
    >>> ax = cp.plot_delivery_curve(curve)
    """
    frame = data
    _need(frame, ["seconds", "share"], "campaign.stats.delivery_curve")
    keys = _group_columns(frame.drop(columns=["delivered"], errors="ignore"))
    groups = _groups(frame, keys)
    # one curve per group: each curve counts up from 1 delivered, so a repeated count (or
    # second) in a group means the curves of a dropped group column are mixed in it
    counts = [c for c in ("seconds", "delivered") if c in frame.columns]
    mixed = [
        label for label, part in groups if part[counts].apply(pd.Series.duplicated).any(axis=None)
    ]
    if mixed:
        by = [c for c in frame.attrs.get("by", []) if c not in keys]
        raise InputError(
            f"the rows of {_listed(mixed)} hold several curves (a delivered count or time repeats)"
            + (f": keep the {', '.join(by)} column(s) of delivery_curve" if by else "")
            + ", or filter the frame to one curve per group"
        )
    _crowded(len(groups), "lines")
    ax = _axes(ax)
    scale, unit = _time_unit(float(frame["seconds"].max()) if len(frame) else 0.0)
    for label, part in groups:
        xs = np.concatenate([[0.0], part["seconds"].to_numpy(dtype="float64") / scale])
        ys = np.concatenate([[0.0], part["share"].to_numpy(dtype="float64")])
        ax.step(xs, ys, where="post", label=label, **kwargs)
    ax.set_xlabel(f"time since send ({unit})")
    ax.set_ylabel("share of submitted delivered")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    _percent(ax)
    if keys:
        _legend(ax, title=" / ".join(keys), fontsize="small")
    return _fonts(ax)


def _histogram(ax, frame, keys, value, weight, unit_scale, kwargs) -> list:
    groups = _groups(frame, keys)
    _crowded(len(groups), "groups")
    top = float(frame[value].max()) / unit_scale if len(frame) else 1.0
    bins = np.linspace(0, max(top, 1e-9), 41)
    out = []
    for label, part in groups:
        xs = part[value].to_numpy(dtype="float64") / unit_scale
        ws = part[weight].to_numpy(dtype="float64")
        if len(groups) == 1:
            ax.hist(xs, bins=bins, weights=ws, color="#3b7dd8", label=label, **kwargs)
        else:
            ax.hist(
                xs, bins=bins, weights=ws, histtype="step", linewidth=1.5, label=label, **kwargs
            )
        out.append((label, xs, ws))
    return out


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def _mark_percentiles(ax, xs, ws, qs, scale: float) -> None:
    """Vertical lines at the percentiles of a weighted sample (x in units of ``scale`` s)."""
    order = np.argsort(xs)
    xs, ws = xs[order], ws[order]
    cum = np.cumsum(ws)
    for q, style in zip(qs, (":", "--", "-."), strict=False):
        value = xs[min(int(np.searchsorted(cum, q * cum[-1] - 1e-9 * cum[-1])), len(xs) - 1)]
        ax.axvline(
            value,
            color="#d84b3b",
            linestyle=style,
            linewidth=1.2,
            label=f"p{round(q * 100)} {_duration(value * scale)}",
        )


def plot_latency(
    data,
    *,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Histogram of receipt latency (received_at - submitted_at).

    ``data`` is a frame from :func:`campaign.stats.latency_distribution`.
    One group: filled bars with p50, p90 and p99 as vertical lines; several groups: one
    outline per group. ``kwargs`` go to ``Axes.hist``.

    Examples
    --------
    >>> ax = cp.plot_latency(cp.latency_distribution("campaign.db", campaign="double11-A"))
    """
    frame = data
    _need(frame, ["seconds", "receipts"], "campaign.stats.latency_distribution")
    keys = _group_columns(frame)
    ax = _axes(ax)
    scale, unit = _time_unit(float(frame["seconds"].max()) if len(frame) else 0.0)
    drawn = _histogram(ax, frame, keys, "seconds", "receipts", scale, kwargs)
    if len(drawn) == 1 and len(frame):
        _mark_percentiles(ax, drawn[0][1], drawn[0][2], (0.5, 0.9, 0.99), scale)
    ax.set_xlabel(f"receipt latency ({unit})")
    ax.set_ylabel("receipts")
    _whole_numbers(ax)
    if len(frame):  # an empty frame has no "all" to name
        _legend(ax, fontsize="small", title=" / ".join(keys) or None)
    return _fonts(ax)


def plot_talk_time(
    data,
    *,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Histogram of how long answered voice calls were listened to, in seconds.

    ``data`` is a frame from :func:`campaign.stats.talk_time_distribution`.
    One group: bars with p50 and p90 marked; several: one outline per group.

    Examples
    --------
    >>> ax = cp.plot_talk_time(cp.talk_time_distribution("campaign.db", campaign="voice-notice"))
    """
    frame = data
    _need(frame, ["talk_seconds", "calls"], "campaign.stats.talk_time_distribution")
    keys = _group_columns(frame)
    ax = _axes(ax)
    drawn = _histogram(ax, frame, keys, "talk_seconds", "calls", 1.0, kwargs)
    if len(drawn) == 1 and len(frame):
        _mark_percentiles(ax, drawn[0][1], drawn[0][2], (0.5, 0.9), 1.0)
    ax.set_xlabel("talk time (seconds)")
    ax.set_ylabel("answered calls")
    _whole_numbers(ax)
    if len(frame):  # an empty frame has no "all" to name
        _legend(ax, fontsize="small", title=" / ".join(keys) or None)
    return _fonts(ax)


def plot_failure_reasons(stats_frame: pd.DataFrame, *, ax: Axes | None = None, **kwargs) -> Axes:
    """Pareto chart of failure reasons: counts, most frequent first, and the cumulative share.

    ``stats_frame`` is from :func:`campaign.stats.failure_reasons`; groups of a ``by=`` are
    added up (draw one chart per group for more). The cumulative share is a line on a
    second y axis (0-100%). ``kwargs`` go to ``Axes.bar``.

    Examples
    --------
    >>> ax = cp.plot_failure_reasons(cp.failure_reasons("campaign.db", campaign="double11-A"))
    """
    _need(stats_frame, ["reason", "count"], "campaign.stats.failure_reasons")
    totals = (
        stats_frame.groupby("reason", sort=False)["count"]
        .sum()
        .sort_values(ascending=False, kind="stable")
    )
    _crowded(len(totals), "reasons")
    ax = _axes(ax)
    kwargs.setdefault("color", "#d84b3b")
    labels = [str(r) for r in totals.index]
    ax.bar(labels, totals.to_numpy(), **kwargs)
    ax.set_ylabel("failed numbers")
    _whole_numbers(ax)
    ax.set_xlabel("reason")
    share = ax.twinx()
    cumulative = totals.cumsum() / totals.sum() if len(totals) else totals
    share.plot(
        labels, cumulative.to_numpy(dtype="float64"), color="#333333", marker="o", linewidth=1.5
    )
    share.set_ylim(0, 1.05)
    share.set_ylabel("cumulative share")
    _percent(share)
    _fonts(share)
    return _fonts(ax)


#: The steps of a funnel, in order, as (column of funnel_stats, label, the step its share is
#: of): the rates' own definitions (DESIGN.md), so converted is of submitted, not of clicked
#: (people buy without clicking).
FUNNEL_STEPS = (
    ("recipients", "planned", None),
    ("submitted", "submitted", "planned"),
    ("delivered", "delivered", "submitted"),
    ("clicked", "clicked", "delivered"),
    ("converted", "converted", "submitted"),
)


def plot_funnel(funnel: pd.DataFrame, *, ax: Axes | None = None, **kwargs) -> Axes:
    """The funnel of one campaign as horizontal bars: numbers planned, submitted, delivered,
    clicked (when its links tell clickers apart) and converted, each labelled with its count
    and its rate as the statistics define it (delivered and converted of submitted, clicked
    of delivered); with a holdout, the held-out numbers' conversion rate is written beside
    the campaign's.

    ``funnel`` is from :func:`campaign.stats.funnel_stats`; with several rows (campaigns or
    groups of a ``by=``) the counts are added up. ``kwargs`` go to ``Axes.barh``.

    Examples
    --------
    >>> ax = cp.plot_funnel(cp.funnel_stats("campaign.db", campaign="double11-A"))
    """
    _need(funnel, ["submitted", "delivered", "converted"], "campaign.stats.funnel_stats")
    steps = []
    for column, label, of in FUNNEL_STEPS:
        if column not in funnel.columns or funnel[column].isna().any():
            continue  # e.g. clicked, unknown with one shared link for the campaign
        steps.append((label, int(funnel[column].sum()), of))
    ax = _axes(ax)
    kwargs.setdefault("color", "#3b7dd8")
    labels = [label for label, _, _ in steps]
    counts = np.array([n for _, n, _ in steps], dtype="float64")
    count_of = {label: n for label, n, _ in steps}
    positions = np.arange(len(steps))[::-1]  # the first step on top
    ax.barh(positions, counts, **kwargs)
    ax.set_yticks(positions, labels)
    top = counts.max() if len(counts) and counts.max() > 0 else 1
    ax.set_xlim(0, top * 1.35)
    for (_, n, of), position in zip(steps, positions, strict=True):
        text = f"{n:,.0f}"
        if count_of.get(of):
            text += f"  ({n / count_of[of]:.1%} of {of})"
        ax.text(n + top * 0.01, position, text, va="center", fontsize=9)
    ax.set_xlabel("numbers")
    _whole_numbers(ax, axis="x")
    if {"held_out", "held_out_converted"} <= set(funnel.columns):
        held = funnel["held_out"].fillna(0).sum()
        if held > 0:
            sent = funnel["submitted"].sum()
            rate = funnel["converted"].sum() / sent if sent else float("nan")
            base = funnel["held_out_converted"].fillna(0).sum() / held
            ax.set_title(
                f"converted {rate:.2%} of submitted vs {base:.2%} of {held:,.0f} held out",
                fontsize=10,
            )
    return _fonts(ax)


def plot_replies_by_hour(
    data,
    *,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Reply messages per hour of the day (Asia/Shanghai), opt-outs stacked on top in red.

    ``data`` is a frame from :func:`campaign.stats.replies_by_hour`, whose ``replies``
    count every reply message, opt-outs included: the blue bars are the other replies, so
    a whole stack is all the replies of the hour. With ``by`` groups, one line of all
    replies per group instead of bars. ``kwargs`` go to ``Axes.bar``.

    Examples
    --------
    >>> ax = cp.plot_replies_by_hour(cp.replies_by_hour("campaign.db", campaign="double11-A"))
    """
    frame = data
    _need(frame, ["hour", "replies", "opt_outs"], "campaign.stats.replies_by_hour")
    keys = _group_columns(frame)
    ax = _axes(ax)
    hours = np.arange(24)
    if not keys:
        per = frame.groupby("hour")[["replies", "opt_outs"]].sum().reindex(hours, fill_value=0)
        other = (per["replies"] - per["opt_outs"]).to_numpy()
        ax.bar(hours, other, color="#3b7dd8", label="replies (not opt-outs)", **kwargs)
        ax.bar(
            hours,
            per["opt_outs"].to_numpy(),
            bottom=other,
            color="#d84b3b",
            label="opt-outs",
            **kwargs,
        )
    else:
        groups = _groups(frame, keys)
        _crowded(len(groups), "lines")
        for label, part in groups:
            per = part.groupby("hour")["replies"].sum().reindex(hours, fill_value=0)
            ax.plot(hours, per.to_numpy(), marker="o", label=label)
    ax.set_xticks(hours[::2])
    ax.set_xlim(-0.6, 23.6)
    ax.set_xlabel("hour of day (Asia/Shanghai)")
    ax.set_ylabel("reply messages (opt-outs included)")
    _whole_numbers(ax)
    _legend(ax, fontsize="small", title=" / ".join(keys) or None)
    return _fonts(ax)
