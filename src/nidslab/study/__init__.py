"""The lab as a study: run every part from a TOML file, write results.json and a report that answers it.

``load_study(path) -> Study``, ``run_study(study, *, data, out_dir, quick=False, ...) -> dict`` and
``write_report(results_json, out_dir)``; ``nidslab lab`` on the command line.

A study is a list of parts (:data:`nidslab.study.registry.PARTS`), one module each under
:mod:`nidslab.study.parts`; ``run_study`` loops over them. How to add a part: see
:mod:`nidslab.study.parts` (one new module, one line in the registry, then regenerate
docs/results-schema.md with ``python -m nidslab.study.schema_doc``).

Layers (an import-linter contract keeps them): ``runner`` -> ``report`` -> ``registry`` -> ``parts`` ->
``context`` -> ``config``, ``prepared``, ``training``, ``blocks``, ``charts``, ``results``, ``numbers``.
"""

from nidslab.study.config import Study, default_study_path
from nidslab.study.report import write_report
from nidslab.study.runner import link_latest, new_run_dir, run_study
from nidslab.study.study_file import load_study, parse_study

__all__ = ["Study", "default_study_path", "link_latest", "load_study", "new_run_dir", "parse_study", "run_study",
           "write_report"]
