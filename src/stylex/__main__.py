"""`python -m stylex` = the `stylex` command."""

import sys

from stylex.cli import main

sys.exit(main())
