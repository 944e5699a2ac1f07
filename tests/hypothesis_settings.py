"""Shared hypothesis settings and strategies."""

from typing import NamedTuple

from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st


def with_fixtures(max_examples):
    """Settings for a slow ``@given`` test with function-scoped fixtures (e.g. ``monkeypatch``).

    The fixtures are reset by the test itself (``monkeypatch.undo`` or a
    ``monkeypatch.context``), so sharing them between examples is safe.
    """
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


class PooledGeometry(NamedTuple):
    """Images and a square kernel, and the options that pool their maps."""

    height: int
    width: int
    channels: int
    kernel_size: int
    options: dict  # ConvFeatures' stride, dilation, padding and pool_grid


@st.composite
def pooled_geometries(draw, max_side=20, max_channels=3, max_kernel=4):
    """A :class:`PooledGeometry` with at least one map position in every pooling region.

    Sides of 5 to ``max_side``, 1 to ``max_channels`` channels, kernels of 1
    to ``max_kernel``, strides and dilations 1-2, "same" or "valid" padding,
    grids of 1 to 3 regions a side; kernels longer than the image (refused
    upstream) are rejected.
    """
    height, width = draw(st.integers(5, max_side)), draw(st.integers(5, max_side))
    kernel_size = draw(st.integers(1, max_kernel))
    stride, dilation = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["same", "valid"]))
    grid = draw(st.integers(1, 3))
    span = dilation * (kernel_size - 1) + 1
    assume(span <= height and span <= width)
    reach = 1 if padding == "same" else span
    assume(min(height, width) - reach >= (grid - 1) * stride)  # a position per region
    options = dict(stride=stride, dilation=dilation, padding=padding, pool_grid=grid)
    channels = draw(st.integers(1, max_channels))
    return PooledGeometry(height, width, channels, kernel_size, options)
