import pytest

from stepdeploy_dev.bench.stats import median, percentile, summary

pytestmark = pytest.mark.unit


def test_percentile_is_nearest_rank():
    values = list(range(1, 11))
    assert percentile(values, 0.5) == 5
    assert percentile(values, 0.9) == 9
    assert percentile(values, 0.91) == 10
    assert percentile(values, 1.0) == 10
    assert percentile(values, 0.01) == 1


def test_p99_of_300_values_is_the_297th_despite_floating_point():
    # 0.99 * 300 is 297.00000000000006 in binary floating point: a plain ceil would give the 298th
    assert percentile(list(range(1, 301)), 0.99) == 297


def test_percentile_does_not_depend_on_order():
    assert percentile([9.0, 1.0, 5.0, 3.0], 0.5) == 3.0


def test_percentile_refuses_nothing_and_out_of_range_fractions():
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="fraction"):
        percentile([1.0], 0)
    with pytest.raises(ValueError, match="fraction"):
        percentile([1.0], 1.5)


def test_median_and_summary():
    assert median([3, 1, 2, 10]) == 2.5
    assert summary([1.0, 2.0, 3.0, 4.0]) == {"n": 4, "median": 2.5, "p99": 4.0, "min": 1.0, "max": 4.0}
