"""``python -m lava_state``: the lava-state CLI."""

import sys

from lava_state.cli import main

sys.exit(main())
