import sys
from pathlib import Path

# The tests import their independent references from tests/reference.py.
sys.path.insert(0, str(Path(__file__).parent))
