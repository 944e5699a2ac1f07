import sys
from pathlib import Path

# The tests import their independent references from tests/reference.py.
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402

from skconv.engine.planner import clear_plans  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_plans():
    """Each test plans its work afresh: several patch the planner's constants."""
    clear_plans()
    yield
    clear_plans()
