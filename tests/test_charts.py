"""Line-chart geometry of the reports' trends: pure numbers, checked directly."""

from __future__ import annotations

from auditor.report.charts import PALETTE, as_points, line_chart, nice_step, sparkline

DAY = 86400.0


def test_no_points_is_an_empty_chart() -> None:
    assert line_chart([("x", "site", [])]).empty


def test_lines_share_one_scale_and_the_y_axis_starts_at_zero() -> None:
    chart = line_chart([("total", "total", [(0.0, 10), (DAY, 5)]), ("A", "site", [(0.0, 4), (DAY, 0)])],
                       width=400, height=200, left=40, right=10, top=10, bottom=20)
    total, site = chart.lines
    assert (total.first, total.last, site.first, site.last) == (10, 5, 4, 0)
    assert total.points.split()[0] == "40.0,10.0"  # 10 is the top of the axis (y_max 10)
    assert site.points.split()[-1] == "390.0,180.0"  # 0 at the bottom, the last day at the right edge
    assert [v for _, v in chart.y_ticks] == [0, 2, 4, 6, 8, 10]
    assert site.color == PALETTE[0] and total.color is None
    assert len(total.dots) == 2


def test_a_long_series_has_no_dots_and_dated_ticks() -> None:
    points = [(i * DAY, 100 - i // 4) for i in range(365)]
    chart = line_chart([("A", "site", points)])
    assert chart.lines[0].dots == () and len(chart.x_ticks) == 6
    assert all(len(label.split()) == 2 for _, label in chart.x_ticks)  # "Jan 1970"


def test_a_single_point_sits_in_the_middle() -> None:
    chart = line_chart([("A", "site", [(1000.0, 3)])], width=300, left=50, right=50)
    [(x, _)] = [tuple(map(float, p.split(","))) for p in chart.lines[0].points.split()]
    assert x == 150.0


def test_sparkline_and_points() -> None:
    assert sparkline([]) == ""
    assert sparkline([(0.0, 5)]).count(",") == 2  # a single point is drawn as a dot-length line
    assert as_points([{"started_at": "1970-01-02T00:00:00Z", "covered": 3}, {"started_at": None, "covered": 1},
                      {"started_at": "junk", "covered": 2}], "covered") == [(DAY, 3)]
    assert [nice_step(p) for p in (4, 12, 60, 900, 12500)] == [1, 5, 20, 200, 5000]
