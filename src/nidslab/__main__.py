"""``python -m nidslab``: the ``nidslab`` command (for a profiler, a debugger or an environment without the script)."""

from nidslab.cli import main

if __name__ == "__main__":  # importing the module (tests walk every module) runs nothing
    main()
