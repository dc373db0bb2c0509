"""``python -m tornadopy.cli``: the ``tornadopy`` command."""

import sys

from tornadopy.cli import main

sys.exit(main())
