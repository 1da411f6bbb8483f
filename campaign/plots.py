"""Charts of the statistics: each ``plot_*`` draws on ``ax`` (a new figure if None) and
returns the matplotlib Axes; nothing here calls ``plt.show()`` or changes ``rcParams``.

Every function takes as its first argument the DataFrame of the matching estimator in
:mod:`campaign.stats`:

========================  ===========================================================
plot                      data
========================  ===========================================================
plot_delivery_rate        ``delivery_stats`` (or ``reply_stats``/``voice_stats`` with
                          ``rate="reply_rate"`` ...): bars with 95% interval whiskers
plot_delivery_curve       ``delivery_curve``: cumulative share delivered vs time since send
plot_latency              ``latency_distribution``: histogram, p50/p90/p99 marked
plot_failure_reasons      ``failure_reasons``: Pareto chart (bars + cumulative share)
plot_talk_time            ``talk_time_distribution``: histogram of talk seconds
plot_replies_by_hour      ``replies_by_hour``: replies and opt-outs per hour of the day
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


def plot_delivery_rate(
    stats_frame: pd.DataFrame,
    *,
    x: str | list[str] | None = None,
    rate: str = "delivery_rate",
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Bars of a rate per group with 95% interval whiskers.

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
        ``_ci_high``).
    kwargs
        Passed to ``Axes.bar``.

    Examples
    --------
    >>> ax = cp.plot_delivery_rate(cp.delivery_stats("campaign.db", by="carrier"))
    >>> [label.get_text() for label in ax.get_xticklabels()]
    ['中国广电', '中国电信', '中国移动', '中国联通', '未知']
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
    _crowded(len(frame), "bars")
    ax = _axes(ax)
    values = frame[rate].to_numpy(dtype="float64")
    errors = np.vstack(
        [
            values - frame[low].to_numpy(dtype="float64"),
            frame[high].to_numpy(dtype="float64") - values,
        ]
    )
    kwargs.setdefault("color", "#3b7dd8")
    # a rate of 100% with ci_high 1.0 can differ in the last bit: whiskers are never negative
    whiskers = np.clip(np.nan_to_num(errors), 0.0, None)
    bars = ax.bar(labels, values, yerr=whiskers, capsize=4, **kwargs)
    if len(values) <= 8:  # more would overlap: the axis says it
        ax.bar_label(
            bars,
            labels=[f"{v:.1%}" if v == v else "" for v in values],
            padding=2,
            fontsize="small",
            label_type="center",
            color="white",
        )
    ax.set_ylim(0, 1.05)
    _percent(ax)
    ax.set_ylabel(f"{rate.replace('_', ' ')} (95% CI)")
    if keys:
        ax.set_xlabel(" / ".join(keys))
    if len(labels) > 8:
        ax.tick_params(axis="x", labelrotation=45)
    return _fonts(ax)


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


def plot_replies_by_hour(
    data,
    *,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Replies per hour of the day (Asia/Shanghai), opt-outs stacked on top in red.

    ``data`` is a frame from :func:`campaign.stats.replies_by_hour`. With
    ``by`` groups, one line of replies per group instead of bars. ``kwargs`` go to
    ``Axes.bar``.

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
        ax.bar(hours, other, color="#3b7dd8", label="replies", **kwargs)
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
    ax.set_ylabel("replies")
    _legend(ax, fontsize="small", title=" / ".join(keys) or None)
    return _fonts(ax)
