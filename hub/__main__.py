"""`python -m hub ...` is `kouan hub ...`."""

import sys

from hub.cli import main

sys.exit(main())
