"""Shared hypothesis settings for tests that also take pytest fixtures."""

from hypothesis import HealthCheck, settings


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
