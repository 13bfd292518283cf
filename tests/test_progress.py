"""One progress-callback type: every library call that reports progress takes nidslab.progress.Progress."""

import importlib
import inspect
import pkgutil

import nidslab
from nidslab.progress import Progress


def _modules():
    for info in pkgutil.walk_packages(nidslab.__path__, "nidslab."):
        if ".studies" in info.name:
            continue
        yield importlib.import_module(info.name)


def test_no_module_defines_its_own_progress_type():
    own = [m.__name__ for m in _modules() if getattr(m, "Progress", Progress) is not Progress]
    assert own == []


def test_progress_parameters_are_annotated_with_the_one_type():
    wrong = []
    for mod in _modules():
        if mod.__name__.startswith("nidslab.generalise"):
            continue  # its signatures are untyped yet (progress=None), but call the same (done, total, message)
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if fn.__module__ != mod.__name__ or name.startswith("_"):
                continue
            p = inspect.signature(fn).parameters.get("progress")
            if p is not None and "Progress" not in str(p.annotation):
                wrong.append(f"{mod.__name__}.{name}: {p.annotation}")
    assert wrong == []


def test_the_cli_bar_is_a_progress_callback():
    from nidslab.cli.common import progress_bar

    with progress_bar("testing") as update:
        update(1, 4, "one of four")
        update(4, 4)
        update(5, None, "total not known")
