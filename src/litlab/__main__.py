"""``python -m litlab <command>`` = ``litlab <command>``."""

import sys

from litlab.cli import main

sys.exit(main())
