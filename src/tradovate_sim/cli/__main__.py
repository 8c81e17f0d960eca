"""`python -m tradovate_sim.cli`."""

import sys

from tradovate_sim.cli import main

sys.exit(main())
