"""`python -m service` runs the `s2s` command."""

import sys

from service.cli import main

sys.exit(main())
