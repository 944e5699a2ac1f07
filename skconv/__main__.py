"""``python -m skconv``: the demo on scikit-learn's digits (no download)."""

import sys

from ._demo import main

sys.exit(main())
