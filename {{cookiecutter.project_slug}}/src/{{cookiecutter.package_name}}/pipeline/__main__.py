"""`python -m <package>.pipeline` is the same as the `crisp` command."""

import sys

from .cli import main

sys.exit(main())
