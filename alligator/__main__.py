"""``python -m alligator``."""

import sys

from alligator.cli import main

sys.exit(main())
