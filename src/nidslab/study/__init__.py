"""The lab as a study: run every part from a TOML file, write results.json and a report that answers it.

``load_study(path) -> Study``, ``run_study(study, *, data, out_dir, quick=False) -> dict`` and
``write_report(results_json, out_dir)``; ``nidslab lab`` on the command line.
"""

from nidslab.study.config import Study, default_study_path, load_study
from nidslab.study.report import write_report
from nidslab.study.runner import link_latest, new_run_dir, run_study

__all__ = ["Study", "default_study_path", "link_latest", "load_study", "new_run_dir", "run_study", "write_report"]
