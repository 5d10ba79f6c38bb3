"""`python -m crisp` is the same as the `crisp` command."""

import sys

from .cli import main

sys.exit(main())
