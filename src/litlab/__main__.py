"""``python -m litlab ...`` is the ``litlab`` command."""

import sys

from litlab.cli import main

sys.exit(main())
