"""``python -m fourflows``: the same as the ``fourflows`` command."""

import sys

from fourflows.cli import main

sys.exit(main())
