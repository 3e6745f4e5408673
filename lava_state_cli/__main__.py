"""``python -m lava_state_cli``: the lava-state CLI."""

import sys

from lava_state_cli.app import main

sys.exit(main())
