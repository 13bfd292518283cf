"""``python -m nidslab``: the ``nidslab`` command (for a profiler, a debugger or an environment without the script)."""

from nidslab.cli import main

main()
