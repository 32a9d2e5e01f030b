"""`python -m bench` (what `make bench` runs): the benchmark's own entry point, outside the
serving CLI, since the serving image ships neither bench/ nor its dependencies."""

import sys

from bench.run import main

sys.exit(main())
