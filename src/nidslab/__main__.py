"""``python -m nidslab``: the ``nidslab`` command (for a profiler, a debugger or an environment without the script)."""

import sys

from nidslab.cli import main

sys.exit(main())
