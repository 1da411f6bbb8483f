"""Charts: each returns its Axes with the expected bars or lines, and Chinese renders as text.

The stores are built on both engines (a SQLite file, a PostgreSQL database): the charts of the
same data must be the same.
"""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.font_manager import FontProperties, findfont
from matplotlib.ft2font import FT2Font
from matplotlib.patches import Rectangle
from stats_fixtures import StoreBuilder, double11, postgres_database

import campaign.plots as pl
import campaign.stats as st
from campaign.errors import InputError


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request, tmp_path_factory):
    """double11 on each engine: a SQLite path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        yield double11(tmp_path_factory.mktemp("plots") / "campaign.db")
        return
    with postgres_database(request.getfixturevalue("postgres_server")) as url:
        yield double11(url)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def bars(ax: Axes) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def draw_without_missing_glyphs(ax: Axes) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ax.figure.canvas.draw()
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing


def test_the_chinese_font_has_the_glyphs_and_no_rcparam_changes():
    before = dict(matplotlib.rcParams)
    family = pl.cjk_fonts()
    assert family[0] == "DejaVu Sans"
    assert len(family) == 2, "no CJK font: is mplfonts installed?"
    path = findfont(FontProperties(family=family[1]), fallback_to_default=False)
    font = FT2Font(path)
    for char in "移动联通电信广东北京未知空号停机":
        assert font.get_char_index(ord(char)) != 0, char
    assert dict(matplotlib.rcParams) == before


def test_chinese_labels_render_as_text(db):
    ax = pl.plot_delivery_rate(st.delivery_stats(db, campaign="double11", by="province"))
    draw_without_missing_glyphs(ax)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["广东\nn=6", "北京\nn=3", "上海\nn=2", "未知\nn=1"]
    assert pl.cjk_fonts()[1] in ax.get_xticklabels()[0].get_fontfamily()


def test_the_default_font_alone_would_show_boxes():
    """The check above can fail: without the CJK family matplotlib warns of missing glyphs."""
    fig, ax = plt.subplots()
    ax.set_title("移动", fontfamily=["DejaVu Sans"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()
    assert any("missing from font" in str(w.message) for w in caught)


def test_delivery_rate_bars_and_whiskers(db):
    stats = st.delivery_stats(db, campaign="double11", by="carrier")
    ax = pl.plot_delivery_rate(stats)
    assert isinstance(ax, Axes)
    shown = stats.set_index(stats["carrier"].fillna("未知")).loc[groups_shown(ax)]
    assert groups_shown(ax) == ["移动", "联通", "电信", "未知"]
    heights = [b.get_height() for b in bars(ax)]
    assert heights == pytest.approx(shown["delivery_rate"].tolist())
    (whiskers,) = [c for c in ax.collections if c.get_segments()]
    tops = [seg[:, 1].max() for seg in whiskers.get_segments()]
    assert tops == pytest.approx(shown["ci_high"].tolist())
    draw_without_missing_glyphs(ax)


def test_delivery_rate_on_a_given_axes_with_two_dimensions_and_other_rates(db):
    _fig, ax = plt.subplots()
    stats = st.delivery_stats(db, campaign="double11", by=["send_hour", "variant"])
    assert pl.plot_delivery_rate(stats, ax=ax) is ax
    assert len(bars(ax)) == len(stats)
    largest = stats.sort_values("submitted", ascending=False, kind="stable").iloc[0]
    assert ax.get_xticklabels()[0].get_text() == (
        f"{largest.send_hour} / {largest.variant}\nn={largest.submitted}"
    )
    replies = st.reply_stats(db, campaign="double11", by="variant")
    ax = pl.plot_delivery_rate(replies, rate="opt_out_rate")
    assert [b.get_height() for b in bars(ax)] == pytest.approx([0.25, 1.0])
    total = pl.plot_delivery_rate(st.delivery_stats(db))
    assert [t.get_text() for t in total.get_xticklabels()] == ["all\nn=17"]  # double11 and voice1
    with pytest.raises(InputError, match="reply_rate"):
        pl.plot_delivery_rate(st.delivery_stats(db), rate="reply_rate")


def test_too_many_bars_warn(db):
    stats = pd.DataFrame({"city": [f"城市{i}" for i in range(50)], "delivery_rate": 0.9,
                          "ci_low": 0.8, "ci_high": 0.95})  # fmt: skip
    with pytest.warns(UserWarning, match="unreadable"):
        pl.plot_delivery_rate(stats)


def test_delivery_curve_one_line_per_group(db):
    curve = st.delivery_curve(db, campaign="double11", by="carrier")
    ax = pl.plot_delivery_curve(curve)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["移动", "联通"]
    assert lines[0].get_ydata()[-1] == pytest.approx(4 / 6)
    assert lines[0].get_ydata()[0] == 0
    assert ax.get_xlabel() == "time since send (minutes)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["移动", "联通"]
    draw_without_missing_glyphs(ax)


def test_latency_histogram_with_percentiles(db):
    ax = pl.plot_latency(st.latency_distribution(db, campaign="double11"))
    assert sum(b.get_height() for b in bars(ax)) == 5
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["p50 45 s", "p90 1.0 h", "p99 1.0 h"]
    assert ax.get_lines()[0].get_xdata()[0] == pytest.approx(45 / 60)
    several = pl.plot_latency(st.latency_distribution(db, campaign="double11", by="carrier"))
    assert len(several.patches) == 2  # one outline per carrier
    assert not several.get_lines()


def test_failure_reasons_pareto(db):
    ax = pl.plot_failure_reasons(st.failure_reasons(db))
    assert [b.get_height() for b in bars(ax)] == [2, 1, 1]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["空号", "停机", "关机"]
    twin = next(a for a in ax.figure.axes if a is not ax)
    assert twin.get_lines()[0].get_ydata() == pytest.approx([0.5, 0.75, 1.0])
    draw_without_missing_glyphs(ax)


def test_talk_time(db):
    ax = pl.plot_talk_time(st.talk_time_distribution(db, campaign="voice1"))
    assert sum(b.get_height() for b in bars(ax)) == 2
    assert [line.get_xdata()[0] for line in ax.get_lines()] == [12, 30]


def test_replies_by_hour(db):
    ax = pl.plot_replies_by_hour(st.replies_by_hour(db, campaign="double11"))
    heights = np.array([b.get_height() for b in bars(ax)])
    assert len(heights) == 48  # replies and opt-outs for each of the 24 hours
    assert heights[:24].sum() + heights[24:].sum() == 4
    assert heights[24 + 14] == 1  # the opt-out at 14:40
    grouped = pl.plot_replies_by_hour(st.replies_by_hour(db, campaign="double11", by="variant"))
    assert [line.get_label() for line in grouped.get_lines()] == ["A", "B"]


def test_plots_refuse_the_wrong_frame(db):
    with pytest.raises(InputError, match="latency_distribution"):
        pl.plot_latency(st.delivery_stats(db))


def test_plots_module_does_not_import_pyplot_at_import():
    import subprocess
    import sys

    code = "import sys, campaign.plots, campaign.stats; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_whiskers_of_a_rate_at_its_interval_bound_are_not_negative():
    """A 100% rate whose interval tops out at 1.0 minus a rounding error still draws."""
    import pandas as pd

    from campaign.plots import plot_delivery_rate

    frame = pd.DataFrame({"carrier": ["中国移动", "中国联通"], "delivery_rate": [1.0, 0.5],
                          "ci_low": [0.77, 0.2], "ci_high": [0.9999999999999999, 0.8]})  # fmt: skip
    ax = plot_delivery_rate(frame, x="carrier")
    assert len(ax.patches) == 2


def test_group_columns_come_from_attrs_by_not_from_their_names(store_url):
    # a contact list with columns called like statistics: they are groups all the same
    s = StoreBuilder(store_url)
    s.campaign("n").batch(
        "n",
        1,
        recipients=[
            ("13800000001", "移动", "广东", "广州", {"hour": "早", "mean": "短信"}),
            ("13800000002", "移动", "广东", "广州", {"hour": "晚", "mean": "短信"}),
        ],
    )
    s.receipt("n", "13800000001", "delivered", "2024-11-11T10:00:30+08:00")
    s.receipt("n", "13800000002", "delivered", "2024-11-11T10:01:30+08:00")
    s.close()
    stats = st.delivery_stats(store_url, by="hour")
    ax = pl.plot_delivery_rate(stats)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["早\nn=1", "晚\nn=1"]
    assert ax.get_xlabel() == "hour (n = submitted)"
    top = pl.plot_delivery_rate(stats[stats["delivered"] > 0].head(1))  # attrs survive filters
    assert [t.get_text() for t in top.get_xticklabels()] == ["早\nn=1"]
    curve = st.delivery_curve(store_url, by=["mean", "hour"])
    assert [line.get_label() for line in pl.plot_delivery_curve(curve).get_lines()] == [
        "短信 / 早",
        "短信 / 晚",
    ]


def test_a_hand_built_frame_without_attrs_still_guesses_its_groups():
    frame = pd.DataFrame({"region": ["南", "北"], "delivery_rate": [0.9, 0.8],
                          "ci_low": [0.85, 0.7], "ci_high": [0.95, 0.9]})  # fmt: skip
    assert frame.attrs == {}
    ax = pl.plot_delivery_rate(frame)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["南", "北"]


def test_delivery_rate_refuses_an_x_that_repeats_across_rows(db):
    stats = st.delivery_stats(db, by=["campaign", "carrier"])
    assert stats["carrier"].duplicated().any()  # 移动 in double11 and in voice1
    with pytest.raises(InputError, match=r"x='carrier' does not tell the rows apart: .*移动") as e:
        pl.plot_delivery_rate(stats, x="carrier")
    assert "by='carrier' only" in str(e.value)
    assert "x=['campaign', 'carrier']" in str(e.value)
    assert "filter the frame to one campaign" in str(e.value)
    assert len(bars(pl.plot_delivery_rate(stats, x=["campaign", "carrier"]))) == len(stats)
    assert len(bars(pl.plot_delivery_rate(st.delivery_stats(db, by="carrier"), x="carrier"))) == 4
    twice = pd.concat([stats, stats])  # one row per group no more, whatever x
    twice.attrs = stats.attrs
    with pytest.raises(InputError, match="on several rows"):
        pl.plot_delivery_rate(twice)
    total = st.delivery_stats(db)
    with pytest.raises(InputError, match="2 rows and no group column"):
        pl.plot_delivery_rate(pd.concat([total, total]))
    with pytest.raises(InputError, match="no nope column"):
        pl.plot_delivery_rate(stats, x="nope")


def test_delivery_curve_refuses_a_frame_that_lost_a_group_column(db):
    curve = st.delivery_curve(db, by=["campaign", "carrier"])
    with pytest.raises(InputError, match="keep the campaign column"):
        pl.plot_delivery_curve(curve.drop(columns="campaign"))


def quiet_store(db):
    """Batches sent (SMS, voice) without a receipt or reply yet, and campaigns never sent."""
    with StoreBuilder(db) as s:
        people = [
            ("13800000001", "移动", "广东", "广州", {}),
            ("13800000002", None, None, None, {}),
        ]
        s.campaign("sms").batch("sms", 1, recipients=people)
        s.campaign("voice", vendor="veesing-voice", channel="voice")
        s.batch("voice", 1, recipients=[("13800000003", "联通", "北京", "北京", {})])
        s.campaign("planned")
        s.campaign("voice-planned", vendor="veesing-voice", channel="voice")
    return db


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sent_without_receipts(request, tmp_path_factory):
    """:func:`quiet_store` on each engine: a SQLite path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        yield quiet_store(tmp_path_factory.mktemp("quiet") / "campaign.db")
        return
    with postgres_database(request.getfixturevalue("postgres_server")) as url:
        yield quiet_store(url)


@pytest.mark.parametrize("campaign", ["sms", "planned"])
@pytest.mark.parametrize("by", [None, "carrier", ["campaign", "carrier"]])
@pytest.mark.parametrize(
    ("plot", "stats"),
    [
        ("plot_delivery_rate", "delivery_stats"),
        ("plot_delivery_curve", "delivery_curve"),
        ("plot_latency", "latency_distribution"),
        ("plot_failure_reasons", "failure_reasons"),
        ("plot_replies_by_hour", "replies_by_hour"),
        ("plot_talk_time", "talk_time_distribution"),
    ],
)
def test_every_plot_draws_a_campaign_without_data_quietly(
    sent_without_receipts, plot, stats, by, campaign
):
    if stats == "talk_time_distribution":  # voice campaigns only
        campaign = {"sms": "voice", "planned": "voice-planned"}[campaign]
    frame = getattr(st, stats)(sent_without_receipts, campaign=campaign, by=by)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = getattr(pl, plot)(frame)
        ax.figure.canvas.draw()
    assert isinstance(ax, Axes)
    legend = ax.get_legend()
    assert legend is None or [t.get_text() for t in legend.get_texts()]


@pytest.mark.parametrize("plot", ["plot_delivery_curve", "plot_replies_by_hour"])
def test_grouped_empty_frames_draw_no_empty_legend(sent_without_receipts, plot):
    stats = {"plot_delivery_curve": st.delivery_curve, "plot_replies_by_hour": st.replies_by_hour}
    frame = stats[plot](sent_without_receipts, campaign="sms", by="carrier")
    assert not len(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = getattr(pl, plot)(frame)
    assert ax.get_legend() is None


# --------------------------------------------------------------------------- what a marketer sees


def ticks(ax: Axes) -> list[str]:
    return [t.get_text() for t in ax.get_xticklabels()]


def groups_shown(ax: Axes) -> list[str]:
    """The group names under the bars (the tick labels' first lines)."""
    return [text.split("\n")[0] for text in ticks(ax)]


def close_rates(db):
    """One campaign whose carriers were all delivered at 90-95%, 未知 the second largest."""
    sizes = [("电信", 120, 108), ("移动", 200, 190), ("联通", 150, 138), (None, 160, 148)]
    people, delivered = [], []
    for carrier, n, d in sizes:
        for j in range(n):
            phone = f"138{len(people) + 1:08d}"
            people.append((phone, carrier, "广东" if carrier else None, None, {}))
            if j < d:
                delivered.append(phone)
    with StoreBuilder(db) as s:
        s.campaign("close").batch("close", 1, recipients=people)
        for phone in delivered:
            s.receipt("close", phone, "delivered", "2024-11-11T10:01:00+08:00")
    return db


@pytest.fixture(scope="module")
def close(tmp_path_factory):
    return close_rates(tmp_path_factory.mktemp("close") / "campaign.db")


def test_each_rate_bar_shows_the_count_it_is_out_of(db):
    ax = pl.plot_delivery_rate(st.delivery_stats(db, campaign="double11", by="carrier"))
    assert ticks(ax) == ["移动\nn=6", "联通\nn=3", "电信\nn=2", "未知\nn=1"]
    assert ax.get_xlabel() == "carrier (n = submitted)"
    replies = pl.plot_delivery_rate(
        st.reply_stats(db, campaign="double11", by="variant"), rate="opt_out_rate"
    )
    assert ticks(replies) == ["A\nn=4", "B\nn=1"]  # opt-outs are out of the delivered
    assert replies.get_xlabel() == "variant (n = delivered)"
    voice = pl.plot_delivery_rate(st.voice_stats(db, campaign="voice1"), rate="answer_rate")
    assert ticks(voice) == ["all\nn=5"]
    draw_without_missing_glyphs(ax)


def test_close_rates_zoom_the_axis_and_say_where_it_starts(close, db):
    stats = st.delivery_stats(close, by="carrier")
    ax = pl.plot_delivery_rate(stats)
    bottom, top = ax.get_ylim()
    assert bottom == pytest.approx(0.75)
    assert top >= stats["ci_high"].max()  # every whisker shows whole
    assert bottom <= stats["ci_low"].min()
    assert ax.get_ylabel() == "delivery rate (95% CI), axis starts at 75%"
    ax.figure.canvas.draw()
    assert ax.get_yticklabels()[0].get_text() == "75%"
    rates = [t.get_text() for t in ax.texts]  # the rate written on each bar, inside the view
    assert rates == ["95.0%", "92.0%", "90.0%", "92.5%"]
    assert all(bottom < t.get_position()[1] < top for t in ax.texts)
    spread = pl.plot_delivery_rate(st.delivery_stats(db, campaign="double11", by="carrier"))
    assert spread.get_ylim() == pytest.approx((0, 1.05))  # 0% to 67%: the whole axis
    assert spread.get_ylabel() == "delivery rate (95% CI)"


def test_low_rates_zoom_the_top_of_the_axis_from_zero():
    frame = pd.DataFrame({"variant": ["A", "B"], "delivered": [5000, 5000],
                          "reply_rate": [0.02, 0.03], "reply_ci_low": [0.017, 0.026],
                          "reply_ci_high": [0.024, 0.035]})  # fmt: skip
    frame.attrs["by"] = ["variant"]
    ax = pl.plot_delivery_rate(frame, rate="reply_rate")
    assert ax.get_ylim() == pytest.approx((0, 0.04))  # the top whisker at 3.5% shows whole
    assert ax.get_ylabel() == "reply rate (95% CI)"  # bars still start at 0: nothing to say


def test_rate_bars_largest_group_first_unknown_last(close):
    stats = st.delivery_stats(close, by="carrier")
    assert stats["carrier"].tolist() == ["电信", "移动", "联通", None]
    ax = pl.plot_delivery_rate(stats)
    assert groups_shown(ax) == ["移动", "联通", "电信", "未知"]  # 200, 150, 120; 未知 160
    assert [b.get_height() for b in bars(ax)] == pytest.approx([0.95, 0.92, 0.9, 0.925])
    kept = pl.plot_delivery_rate(stats, order="frame")
    assert groups_shown(kept) == ["电信", "移动", "联通", "未知"]
    with pytest.raises(InputError, match="order="):
        pl.plot_delivery_rate(stats, order="name")


def test_many_bars_put_n_beside_their_turned_names_and_one_bar_keeps_the_whole_axis():
    frame = pd.DataFrame({"city": [f"城市{i}" for i in range(12)], "submitted": range(100, 112),
                          "delivery_rate": 0.9, "ci_low": 0.88, "ci_high": 0.92})  # fmt: skip
    frame.attrs["by"] = ["city"]
    ax = pl.plot_delivery_rate(frame)
    assert ticks(ax)[:2] == ["城市11 n=111", "城市10 n=110"]
    assert ax.get_xticklabels()[0].get_rotation() == 45
    assert ax.get_ylim()[0] > 0  # twelve rates of 90%: zoomed
    one = pl.plot_delivery_rate(frame.head(1))
    assert one.get_ylim() == pytest.approx((0, 1.05))  # nothing to tell apart: 0 to 100%
    assert one.get_ylabel() == "delivery rate (95% CI)"


def test_numbered_groups_keep_their_order():
    """Send hours and batch numbers read in their own order, not by size."""
    frame = pd.DataFrame({"send_hour": [9, 10, 11], "submitted": [10, 50, 20],
                          "delivery_rate": [0.5, 0.6, 0.7], "ci_low": [0.2, 0.45, 0.5],
                          "ci_high": [0.8, 0.72, 0.85]})  # fmt: skip
    frame.attrs["by"] = ["send_hour"]
    assert groups_shown(pl.plot_delivery_rate(frame)) == ["9", "10", "11"]
    assert groups_shown(pl.plot_delivery_rate(frame, order="size")) == ["10", "11", "9"]


def test_the_title_says_largest_only_when_groups_were_cut(db):
    stats = st.delivery_stats(db, campaign="double11", by="province")
    every = pl.plot_delivery_rate(stats, top=20)
    assert every.get_title() == ""  # 4 provinces: nothing left out
    assert groups_shown(every) == ["广东", "北京", "上海", "未知"]
    cut = pl.plot_delivery_rate(stats, top=2)
    assert cut.get_title() == "2 largest of 4 province groups (by submitted)"
    assert groups_shown(cut) == ["广东", "北京"]
    with pytest.raises(InputError, match="top="):
        pl.plot_delivery_rate(stats, top=0)


def fractional_ticks(ax: Axes) -> list[str]:
    """The count-axis tick labels in view that are not whole numbers (such as 2.5)."""
    ax.figure.canvas.draw()
    low, high = ax.get_ylim()
    shown = [t.get_text() for t in ax.get_yticklabels() if low <= t.get_position()[1] <= high]
    assert len(shown) >= 2
    return [text for text in shown if not text.isdigit()]


def test_count_axes_have_whole_number_ticks(db):
    charts = {
        "failure reasons": pl.plot_failure_reasons(st.failure_reasons(db)),  # 2, 1, 1
        "latency": pl.plot_latency(st.latency_distribution(db, campaign="double11")),
        "talk time": pl.plot_talk_time(st.talk_time_distribution(db, campaign="voice1")),
        "replies": pl.plot_replies_by_hour(st.replies_by_hour(db, campaign="double11")),
        "replies by variant": pl.plot_replies_by_hour(
            st.replies_by_hour(db, campaign="double11", by="variant")
        ),
    }
    assert {name: fractional_ticks(ax) for name, ax in charts.items()} == {n: [] for n in charts}


def test_replies_by_hour_says_opt_outs_are_among_the_replies(db):
    """replies_by_hour counts every reply message, opt-outs too: the bars split them."""
    hours = st.replies_by_hour(db, campaign="double11")
    assert hours["replies"].sum() == 4
    assert hours["opt_outs"].sum() == 2
    ax = pl.plot_replies_by_hour(hours)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["replies (not opt-outs)", "opt-outs"]
    assert ax.get_ylabel() == "reply messages (opt-outs included)"
    heights = np.array([b.get_height() for b in bars(ax)])
    assert heights[:24].sum() == 2  # the replies that are not opt-outs
    assert heights[24:].sum() == 2
    grouped = pl.plot_replies_by_hour(st.replies_by_hour(db, campaign="double11", by="variant"))
    assert grouped.get_ylabel() == "reply messages (opt-outs included)"


def funnel_frame(**overrides) -> pd.DataFrame:
    row = {"campaign": "d11", "recipients": 1000, "submitted": 990, "delivered": 900,
           "clicked": 90, "converted": 30, "held_out": 100, "held_out_converted": 1}  # fmt: skip
    frame = pd.DataFrame([{**row, **overrides}])
    frame.attrs["by"] = ["campaign"]
    return frame


def test_plot_funnel_draws_each_step_top_down_with_its_share_of_the_step_before():
    ax = pl.plot_funnel(funnel_frame())
    assert [b.get_width() for b in sorted(bars(ax), key=lambda b: -b.get_y())] == [
        1000,
        990,
        900,
        90,
        30,
    ]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "planned", "submitted", "delivered", "clicked", "converted"
    ]  # fmt: skip
    texts = [t.get_text() for t in ax.texts]
    assert "90  (10.0% of delivered)" in texts
    assert "30  (3.0% of submitted)" in texts  # the conversion rate: people buy unclicked
    assert ax.get_title() == "converted 3.03% of submitted vs 1.00% of 100 held out"
    draw_without_missing_glyphs(ax)


def test_plot_funnel_leaves_out_clicked_when_the_links_cannot_tell_clickers_apart():
    ax = pl.plot_funnel(funnel_frame(clicked=float("nan"), held_out=0, held_out_converted=0))
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "planned", "submitted", "delivered", "converted"
    ]  # fmt: skip
    assert "900  (90.9% of submitted)" in [t.get_text() for t in ax.texts]
    assert ax.get_title() == ""  # no holdout, no comparison


def test_plot_funnel_adds_up_groups_and_draws_on_the_axes_given():
    two = pd.concat([funnel_frame(), funnel_frame(campaign="d11-B")], ignore_index=True)
    _fig, given = plt.subplots()
    ax = pl.plot_funnel(two, ax=given)
    assert ax is given
    assert max(b.get_width() for b in bars(ax)) == 2000


def test_plot_funnel_of_the_wrong_frame_says_which_to_pass():
    with pytest.raises(InputError, match="funnel_stats"):
        pl.plot_funnel(pd.DataFrame({"delivery_rate": [0.5]}))


def test_plot_funnel_of_a_store(db):
    ax = pl.plot_funnel(st.funnel_stats(db, campaign="double11"))
    assert len(bars(ax)) >= 4
