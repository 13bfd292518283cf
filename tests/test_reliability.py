"""Issue 16: nothing a user owns is lost, no silent wrong result, and every mistake gets one clear line.

Each test here failed on the code before the fix it guards (see the commit messages).
"""

from __future__ import annotations

import gzip
import time

import numpy as np
import pytest

from nidslab.data.readers import read_features, read_labels, read_table
from nidslab.errors import DataError


@pytest.fixture()
def X():
    return np.random.default_rng(0).lognormal(2, 2, (60, 115))


def _csv(path, table, delimiter=","):
    np.savetxt(path, table, delimiter=delimiter, fmt="%.9g")
    return path


# --------------------------------------------------------------------------- 2: index column that is not one


def test_headerless_116_columns_with_a_label_last_is_refused_not_misread(tmp_path, X):
    y = np.arange(len(X)) % 2
    path = _csv(tmp_path / "with_label.csv", np.c_[X, y])
    with pytest.raises(DataError, match=r"with_label.csv: 116 columns, so column 1 should be the row index.*"
                                        r"row 1 holds .*Column 116 holds only 0 and 1"):
        read_features(path)
    np.save(tmp_path / "with_label.npy", np.c_[X, y])
    with pytest.raises(DataError, match="column 1 should be the row index"):
        read_features(tmp_path / "with_label.npy")


def test_a_real_index_column_is_still_dropped_in_any_order(tmp_path, X):
    index = np.random.default_rng(1).permutation(1000)[: len(X)]  # a shuffled subset of the released index
    got = read_features(_csv(tmp_path / "indexed.csv", np.c_[index, X]))
    np.testing.assert_allclose(got, X, rtol=1e-6)
    index[3] = index[4]
    with pytest.raises(DataError, match="appears more than once"):
        read_features(_csv(tmp_path / "dup.csv", np.c_[index, X]))


# --------------------------------------------------------------------------- 8: bounded reads, clear errors


def test_a_big_file_without_line_breaks_fails_fast_with_a_message(tmp_path):
    path = tmp_path / "one_line.csv"
    path.write_bytes(b"1.5," * (50_000_000 // 4))  # 50 MB, no newline
    start = time.perf_counter()
    with pytest.raises(DataError, match="one_line.csv: no line break in the first 1 MiB"):
        read_features(path)
    assert time.perf_counter() - start < 5
    gz = tmp_path / "one_line.csv.gz"
    gz.write_bytes(gzip.compress(b"1.5," * (5_000_000 // 4), compresslevel=1))
    with pytest.raises(DataError, match="no line break"):
        read_labels(gz)


def test_random_bytes_are_called_not_text(tmp_path):
    path = tmp_path / "random.csv"
    path.write_bytes(np.random.default_rng(2).bytes(300_000))
    with pytest.raises(DataError, match=r"random.csv: line \d+, column \d+: byte 0x[0-9a-f]{2} is not text"):
        read_features(path)


def test_a_0xff_byte_in_a_cell_is_named_near_and_far_from_the_start(tmp_path):
    X = np.random.default_rng(3).lognormal(2, 2, (3_000, 115))  # about 3.8 MB: line 2501 is past the sniffed prefix
    lines = _csv(tmp_path / "x.csv", X).read_bytes().split(b"\n")
    for row, name in ((2, "near.csv"), (2_500, "far.csv")):
        bad = list(lines)
        cells = bad[row].split(b",")
        cells[7] = b"1\xff2"
        bad[row] = b",".join(cells)
        (tmp_path / name).write_bytes(b"\n".join(bad))
    with pytest.raises(DataError, match=r"near.csv: line 3, column 8: byte 0xff is not text"):
        read_features(tmp_path / "near.csv")
    with pytest.raises(DataError, match=r"far.csv: line 2501, column 8 \(column 8\): '1\\xff2' is not a number"):
        read_features(tmp_path / "far.csv")


def test_a_line_longer_than_the_limit_deep_in_the_file(tmp_path, monkeypatch):
    from nidslab.data import readers

    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 1 << 20)  # the 16 MiB limits, scaled down with the file
    monkeypatch.setattr(readers, "SCAN_BLOCK", 1 << 20)
    X = np.random.default_rng(4).lognormal(2, 2, (2_000, 115))
    lines = _csv(tmp_path / "x.csv", X).read_bytes().split(b"\n")
    ragged = list(lines)
    ragged[1_500] += b",1"
    (tmp_path / "ragged.csv").write_bytes(b"\n".join(ragged))
    with pytest.raises(DataError, match=r"ragged.csv: line 1501 has 116 columns; the first line has 115"):
        read_features(tmp_path / "ragged.csv")
    lines[1_500] += b",1" * 1_500_000  # 3 MB without a line break
    (tmp_path / "long.csv").write_bytes(b"\n".join(lines))
    with pytest.raises(DataError, match=r"long.csv: line 1501 is longer than 1 MiB"):
        read_features(tmp_path / "long.csv")


def test_a_utf8_bom_does_not_eat_the_first_row(tmp_path, X):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _csv(tmp_path / "plain.csv", X).read_bytes())
    got, _ = read_table(path)
    assert got.shape == (len(X), 115)
    np.testing.assert_allclose(got, X, rtol=1e-6)


@pytest.mark.parametrize("delimiter,word", [(";", "semicolons"), ("\t", "tabs")])
def test_a_semicolon_or_tab_delimiter_is_named(tmp_path, X, delimiter, word):
    path = _csv(tmp_path / "european.csv", X, delimiter)
    with pytest.raises(DataError, match=f"european.csv: line 1 has no commas but 114 {word}"):
        read_features(path)


# --------------------------------------------------------------------------- 5: leftovers of a killed writer


_KILLED_WRITER = """
import os, signal, sys
import numpy as np
from nidslab.data.datasets import write_dataset
def die(done, total, message=""):
    if done == 1:  # features.npy is on disk: the state a kill -9 during `data build` leaves
        os.kill(os.getpid(), signal.SIGKILL)
X = np.zeros((50, 115), np.float32)
write_dataset("victim", X, np.zeros(50, np.uint8), progress=die)
"""


def test_a_killed_writers_temp_folder_is_listed_then_cleaned(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    from typer.testing import CliRunner

    from nidslab.cli import app
    from nidslab.data.datasets import list_leftovers, write_dataset

    monkeypatch.setenv("NIDSLAB_HOME", str(tmp_path))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    run = subprocess.run([sys.executable, "-c", _KILLED_WRITER], env=env)
    assert run.returncode == -9
    left = list(tmp_path.glob("datasets/.victim.*.tmp"))
    assert len(left) == 1 and (left[0] / "features.npy").exists()
    old = os.stat(left[0]).st_mtime - 120  # the minimum age, so a folder being made is never taken
    os.utime(left[0], (old, old))
    (found,) = list_leftovers()
    assert found.path == left[0] and found.stale and not found.live and found.bytes > 50 * 115 * 4
    listing = CliRunner().invoke(app, ["data", "list"], env={"COLUMNS": "300"})
    assert "unfinished" in listing.output and left[0].name in listing.output and "is gone" in listing.output
    write_dataset("next", np.zeros((5, 115), np.float32), np.zeros(5, np.uint8))
    assert not left[0].exists() and list_leftovers() == []
    assert not (tmp_path / "datasets" / "next" / ".owner").exists()


def test_a_live_writers_temp_folder_is_left_alone(tmp_path, monkeypatch):
    import os

    from nidslab.data.datasets import write_dataset
    from nidslab.data.leftovers import find_leftovers, make_temp_dir

    monkeypatch.setenv("NIDSLAB_HOME", str(tmp_path))
    mine = make_temp_dir(tmp_path / "datasets", "busy")  # owned by this (running) process
    old = os.stat(mine).st_mtime - 7200
    os.utime(mine, (old, old))
    write_dataset("other", np.zeros((5, 115), np.float32), np.zeros(5, np.uint8))
    assert mine.exists()
    (found,) = find_leftovers(tmp_path / "datasets")
    assert found.live and not found.stale


# --------------------------------------------------------------------------- 7: messages are text, not markup


def _cli(*args, env=None):
    from typer.testing import CliRunner

    from nidslab.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "400", **(env or {})})


@pytest.mark.parametrize("name", ["bad[/x].csv", "bad[x].csv", "[bold]bad.csv"])
def test_file_names_with_brackets_reach_the_error_message_intact(tmp_path, name):
    (tmp_path / name).parent.mkdir(exist_ok=True)  # "bad[/x].csv" is x].csv in a folder bad[
    (tmp_path / name).write_text("1,2,3\n4,5,6\n")
    r = _cli("data", "import", str(tmp_path / name), "--name", "brackets")
    assert r.exit_code == 2, r.output
    assert f"{name}: 3 columns" in r.output and "Traceback" not in r.output


def test_a_table_name_in_brackets_survives_in_the_message():
    import typer

    from nidslab.cli import app
    from nidslab.errors import ConfigError

    probe = typer.Typer()

    @probe.command()
    def boom() -> None:
        raise ConfigError("study.toml: unknown key 'lr' in [train]; expected one of [/model]")

    app.add_typer(probe, name="probe-markup")
    try:
        r = _cli("probe-markup", "boom")
    finally:
        app.registered_groups.pop()
    assert r.exit_code == 2 and "unknown key 'lr' in [train]; expected one of [/model]" in r.output


# --------------------------------------------------------------------------- 9: one line, not a traceback


def test_a_missing_input_file_is_one_line(tmp_path):
    r = _cli("data", "import", str(tmp_path / "nope.csv"), "--name", "x")
    assert r.exit_code == 2 and "nope.csv: no such file" in r.output and "Traceback" not in r.output
    assert not isinstance(r.exception, FileNotFoundError)


def test_nidslab_home_that_is_a_file_is_named(tmp_path):
    home = tmp_path / "home"
    home.write_text("not a folder")
    r = _cli("data", "list", env={"NIDSLAB_HOME": str(home)})
    assert r.exit_code == 2 and f"NIDSLAB_HOME={home}: is a file" in r.output


@pytest.mark.parametrize("err,expected", [
    (__import__("errno").EACCES, "permission denied; check"),
    (__import__("errno").EROFS, "the file system is read-only"),
    (__import__("errno").ENOSPC, "no space left on the device"),
])
def test_an_unwritable_or_full_nidslab_home_is_one_line(tmp_path, monkeypatch, err, expected):
    import os
    from pathlib import Path

    X = np.random.default_rng(0).lognormal(2, 2, (20, 115))
    _csv(tmp_path / "x.csv", X)
    (tmp_path / "y.csv").write_text("0\n" * 20)
    real = Path.mkdir

    def refuse(self, *args, **kwargs):
        if "home" in str(self):
            raise (PermissionError if err == __import__("errno").EACCES else OSError)(err, os.strerror(err), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)  # root ignores chmod, so the kernel's answer is played back
    r = _cli("data", "import", str(tmp_path / "x.csv"), str(tmp_path / "y.csv"), "--name", "x",
             env={"NIDSLAB_HOME": str(tmp_path / "home")})
    assert r.exit_code == 2, r.output
    assert f"{tmp_path / 'home'}" in r.output and expected in r.output and "Traceback" not in r.output


def test_real_bugs_keep_their_traceback():
    import typer

    from nidslab.cli import app

    probe = typer.Typer()

    @probe.command()
    def boom() -> None:
        raise OSError(5, "Input/output error")

    app.add_typer(probe, name="probe-bug")
    try:
        r = _cli("probe-bug", "boom")
    finally:
        app.registered_groups.pop()
    assert r.exit_code == 1 and isinstance(r.exception, OSError)


def test_a_corrupt_capture_record_is_an_error_not_a_warning_and_rc_0(tmp_path):
    import struct

    from nidslab.features import extract_features, write_pcap

    frame = bytes(range(14)) + bytes(50)  # Ethernet, ethertype 0x0c0d: decoded as "other"
    path = tmp_path / "caplen.pcap"
    write_pcap(path, [float(i) for i in range(2_000)], [frame] * 2_000)
    raw = bytearray(path.read_bytes())
    snaplen = struct.unpack("<I", raw[16:20])[0]
    at = 24 + 10 * (16 + len(frame))  # the 11th record's header
    raw[at + 8:at + 12] = struct.pack("<I", max(snaplen, 1 << 18) + 1)
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=rf"caplen.pcap: corrupt record at byte {at:,} \(captured length 262,145 bytes.*"
                                        r"snap length is 65,535\) after 10 good packet\(s\)"):
        extract_features(path)
    r = _cli("features", "extract", str(path), "-o", str(tmp_path / "out.csv"))
    assert r.exit_code == 2 and "corrupt record" in r.output and not (tmp_path / "out.csv").exists()


# --------------------------------------------------------------------------- 6: a full disk while training


@pytest.fixture()
def full_disk(monkeypatch):
    """Play back what a full disk does: torch.save to a file leaves it empty and raises a RuntimeError (its C++
    writer), and a plain write of a checkpoint or model file fails with ENOSPC. Serialising to memory works."""
    import errno
    import os

    import torch

    real_save, real_write = torch.save, os.write

    def save(obj, f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)):
            open(f, "wb").close()
            raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0")
        return real_save(obj, f, *args, **kwargs)

    def write(fd, data):
        target = os.readlink(f"/proc/self/fd/{fd}")
        if ".pt." in target or "weights" in target:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr(os, "write", write)


def test_a_full_disk_while_checkpointing_is_enospc_naming_the_file_and_leaves_nothing(tmp_path, full_disk):
    import errno

    from nidslab.model import build_model
    from nidslab.settings import FitConfig, ModelSpec
    from nidslab.train import fit

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 5)).astype(np.float32), (rng.random(200) > 0.5).astype(np.uint8)
    model = build_model(ModelSpec(n_layers=1, n_nodes=4), 5, seed=0)
    with pytest.raises(OSError) as err:
        fit(model, (X, y), None, FitConfig(epochs=2, batch_size=50, device="cpu"), checkpoint_dir=tmp_path / "ckpt")
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(tmp_path / "ckpt" / "checkpoint.pt")
    assert not (tmp_path / "ckpt").exists() and list(tmp_path.iterdir()) == []


@pytest.fixture()
def small_dataset(tmp_path_factory):
    from nidslab.data.datasets import write_dataset
    from nidslab.data.synthetic import make_synthetic

    X, y = make_synthetic(2_000, seed=1)
    return write_dataset(tmp_path_factory.mktemp("data") / "small", X, y).path


@pytest.mark.parametrize("fraction", ["0", "2", "nan"])
def test_a_fraction_outside_0_1_is_one_line(tmp_path, small_dataset, fraction):
    r = _cli("train", "-o", str(tmp_path / "m"), "--data", str(small_dataset), "--epochs", "1", "--fraction", fraction)
    assert r.exit_code == 2, r.output
    assert f"fraction (the share of the rows used) must be in (0, 1], got {float(fraction)}" in r.output


def test_an_unknown_feature_name_is_a_config_error_that_is_still_a_key_error():
    from nidslab import schema
    from nidslab.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown Kitsune feature 'MI_dir_L9_weight'"):
        schema.indices(["MI_dir_L5_weight", "MI_dir_L9_weight"])
    with pytest.raises(KeyError):
        schema.select("HH,nope")


# --------------------------------------------------------------------------- 1: never delete the user's files


def _tiny_model():
    from nidslab.model import build_model
    from nidslab.settings import ModelSpec

    return build_model(ModelSpec(n_layers=1, n_nodes=4), 3, seed=0)


def test_save_model_refuses_a_folder_of_user_files_and_a_file(tmp_path):
    from nidslab.saved_model import save_model

    thesis = tmp_path / "d" / "thesis.txt"
    thesis.parent.mkdir()
    thesis.write_text("draft")
    with pytest.raises(DataError, match=r"d: is a folder of other files \(thesis.txt\).*--overwrite"):
        save_model(tmp_path / "d", _tiny_model(), feature_names=["a", "b", "c"])
    assert thesis.read_text() == "draft"
    notes = tmp_path / "notes.md"
    notes.write_text("mine")
    with pytest.raises(DataError, match=r"notes.md: is a file, not a model folder"):
        save_model(notes, _tiny_model(), feature_names=["a", "b", "c"])
    assert notes.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["d", "notes.md"]


def test_save_model_replaces_a_model_folder_and_overwrite_replaces_anything(tmp_path):
    from nidslab.saved_model import is_model_folder, load_model, save_model

    save_model(tmp_path / "m", _tiny_model(), feature_names=["a", "b", "c"])
    save_model(tmp_path / "m", _tiny_model(), feature_names=["x", "y", "z"])  # a model folder: replaced
    assert load_model(tmp_path / "m").feature_names == ["x", "y", "z"]
    (tmp_path / "f").write_text("old")
    save_model(tmp_path / "f", _tiny_model(), feature_names=["a", "b", "c"], overwrite=True)
    assert is_model_folder(tmp_path / "f") and sorted(p.name for p in tmp_path.iterdir()) == ["f", "m"]


def test_train_onto_a_folder_of_user_files_refuses_before_training(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "thesis.txt").write_text("draft")
    # the dataset does not exist: the destination is checked first, before any data is read or trained on
    r = _cli("train", "-o", str(folder), "--data", str(tmp_path / "no-such-dataset"), "--epochs", "1")
    assert r.exit_code == 2 and "is a folder of other files (thesis.txt)" in r.output, r.output
    assert (folder / "thesis.txt").read_text() == "draft" and sorted(p.name for p in folder.iterdir()) == ["thesis.txt"]


def test_save_model_on_a_full_disk_names_the_folder_and_leaves_nothing(tmp_path, full_disk):
    import errno

    from nidslab.saved_model import save_model

    with pytest.raises(OSError) as err:
        save_model(tmp_path / "m", _tiny_model(), feature_names=["a", "b", "c"])
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_train_overwrite_replaces_a_folder_of_user_files_when_asked(tmp_path, small_dataset):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "old.txt").write_text("x")
    r = _cli("train", "-o", str(folder), "--data", str(small_dataset), "--epochs", "1", "--overwrite")
    assert r.exit_code == 0, r.output
    assert not (folder / "old.txt").exists() and (folder / "weights.pt").exists()


# --------------------------------------------------------------------------- 3: evaluate on the data it was trained on


def test_evaluate_refuses_a_dataset_re_imported_under_the_same_name(tmp_path, monkeypatch):
    from nidslab.data import import_dataset
    from nidslab.data.synthetic import make_synthetic

    monkeypatch.setenv("NIDSLAB_HOME", str(tmp_path / "home"))
    X, y = make_synthetic(2_000, seed=1)
    import_dataset(X, y, "mine")
    r = _cli("train", "-o", str(tmp_path / "m"), "--data", "mine", "--epochs", "1")
    assert r.exit_code == 0, r.output
    assert _cli("evaluate", str(tmp_path / "m")).exit_code == 0
    X2, y2 = make_synthetic(2_000, seed=2)
    import_dataset(X2, y2, "mine")
    r = _cli("evaluate", str(tmp_path / "m"))
    assert r.exit_code == 2, r.output
    assert "dataset 'mine' has changed since" in r.output and "Traceback" not in r.output


# --------------------------------------------------------------------------- 9: the CLI's remaining tracebacks


def test_epochs_0_is_refused_and_saves_nothing(tmp_path, small_dataset):
    r = _cli("train", "-o", str(tmp_path / "m"), "--data", str(small_dataset), "--epochs", "0")
    assert r.exit_code == 2 and "--epochs" in r.output and "at least 1" in r.output
    assert not (tmp_path / "m").exists()


def test_a_missing_model_folder_is_one_line(tmp_path):
    r = _cli("evaluate", str(tmp_path / "nomodel"))
    assert r.exit_code == 2 and "nomodel is not a model folder" in r.output
    assert not isinstance(r.exception, FileNotFoundError)


def test_predict_onto_a_folder_and_an_unknown_name_in_features_json(tmp_path, small_dataset):
    import json

    assert _cli("train", "-o", str(tmp_path / "m"), "--data", str(small_dataset), "--epochs", "1").exit_code == 0
    np.save(tmp_path / "rows.npy", np.random.default_rng(0).lognormal(2, 2, (50, 115)).astype(np.float32))
    (tmp_path / "out.csv").mkdir()
    r = _cli("predict", str(tmp_path / "m"), str(tmp_path / "rows.npy"), "-o", str(tmp_path / "out.csv"))
    assert r.exit_code == 2 and f"{tmp_path / 'out.csv'}: is a folder" in r.output, r.output
    names = json.loads((tmp_path / "m" / "features.json").read_text())
    names[3] = "bogus_name"
    (tmp_path / "m" / "features.json").write_text(json.dumps(names))
    r = _cli("predict", str(tmp_path / "m"), str(tmp_path / "rows.npy"), "-o", str(tmp_path / "o.csv"))
    assert r.exit_code == 2 and "features.json" in r.output and "'bogus_name'" in r.output, r.output


# =========================================================================== issue 24: the second pass
# Each test below failed on the code before the fix it guards (see the commit messages).

# --------------------------------------------------------------------------- 4: memory bounded by design


def test_the_simulators_pieces_join_to_the_one_shot_capture_byte_for_byte():
    from nidslab.simulate import simulate_table
    from nidslab.simulate import pcapgen as pg

    tab, _, _ = simulate_table(20_000, seed=3)
    q = tab["quote"]
    rows = 997  # small pieces: ICMP errors quote rows of earlier pieces
    crossing = np.flatnonzero((q >= 0) & (q // rows != np.arange(len(q)) // rows))
    assert len(crossing) > 0
    pieces = list(pg.assemble_chunks(tab, rows=rows))
    assert len(pieces) == 1 + -(-20_000 // rows) and len(pieces[0]) == 24
    assert np.concatenate(pieces).tobytes() == pg.assemble(tab).tobytes()


_SIMULATE_UNDER_A_LIMIT = """
import resource, sys
from nidslab.simulate import simulate_capture
# the limit is the address space in use after the imports plus a budget: today's whole-capture buffer (350 MB
# for 2,000,000 packets) and its index matrices do not fit in it; the table and pieces of 65,536 rows do
vm = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmSize"))
limit = vm + 1000 * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sim = simulate_capture(sys.argv[1], packets=2_000_000, seed=0)
print(sim.n_packets)
"""


def test_simulating_2_million_packets_fits_a_memory_limit_the_whole_capture_would_not(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", _SIMULATE_UNDER_A_LIMIT, str(tmp_path / "big.pcap")], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["2000000"]
    assert (tmp_path / "big.pcap").stat().st_size == 350_408_449


@pytest.mark.parametrize("packets", ["10000000000000", "100000000"])
def test_a_simulation_too_big_for_the_memory_is_refused_up_front_in_one_line(tmp_path, packets):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30 if packets == "100000000" else soft, hard))  # 6 GiB, as the issue
    try:
        start = time.perf_counter()
        r = _cli("simulate", "-o", str(tmp_path / "x.pcap"), "--packets", packets)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert r.exit_code == 2, r.output
    assert f"--packets {int(packets):,}: simulating needs about" in r.output and "Use at most" in r.output
    assert len(r.output.strip().splitlines()) == 1 and time.perf_counter() - start < 5
    assert list(tmp_path.iterdir()) == []


def test_simulate_onto_a_folder_names_the_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("draft")
    r = _cli("simulate", "-o", str(tmp_path / "mine"), "--packets", "2000")
    assert r.exit_code == 2 and f"{tmp_path / 'mine'}: is a folder" in r.output and ".tmp" not in r.output, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


# --------------------------------------------------------------------------- 1: a model folder with the user's files


def test_train_onto_a_model_folder_holding_the_users_scores_refuses_and_keeps_them(tmp_path, small_dataset):
    m = tmp_path / "m1"
    assert _cli("train", "-o", str(m), "--data", str(small_dataset), "--epochs", "1").exit_code == 0
    np.save(tmp_path / "rows.npy", np.random.default_rng(0).lognormal(2, 2, (50, 115)).astype(np.float32))
    assert _cli("predict", str(m), str(tmp_path / "rows.npy"), "-o", str(m / "scores.csv")).exit_code == 0
    scores = (m / "scores.csv").read_bytes()
    r = _cli("train", "-o", str(m), "--data", str(small_dataset), "--epochs", "1")
    assert r.exit_code == 2 and "is a model folder that also holds other files (scores.csv)" in r.output, r.output
    assert (m / "scores.csv").read_bytes() == scores
    assert _cli("train", "-o", str(m), "--data", str(small_dataset), "--epochs", "1", "--overwrite").exit_code == 0
    assert not (m / "scores.csv").exists()
    # a model folder of its own files only (curves and thresholds included) is still replaced without asking
    assert _cli("train", "-o", str(m), "--data", str(small_dataset), "--epochs", "1").exit_code == 0


def test_a_link_to_a_folder_of_user_files_is_called_a_link_not_a_file(tmp_path):
    import os

    (tmp_path / "udir").mkdir()
    (tmp_path / "udir" / "thesis.txt").write_text("draft")
    os.symlink(tmp_path / "udir", tmp_path / "ulink")
    r = _cli("train", "-o", str(tmp_path / "ulink"), "--data", str(tmp_path / "nodata"), "--epochs", "1")
    assert r.exit_code == 2, r.output
    assert f"ulink: is a link to {tmp_path / 'udir'} (a folder holding thesis.txt)" in r.output
    assert "is a file" not in r.output and (tmp_path / "udir" / "thesis.txt").read_text() == "draft"


# --------------------------------------------------------------------------- 2: --resume never continues another run


@pytest.fixture()
def killed_training(tmp_path, small_dataset, monkeypatch):
    """A training stopped after its last epoch's checkpoint and before saving (as a kill would leave it)."""
    import nidslab.cli.train as cli_train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(cli_train, "score_test_split", interrupted)
        r = _cli("train", "-o", str(tmp_path / "m"), "--data", str(small_dataset), "--epochs", "2")
    assert r.exit_code == 130 and (tmp_path / ".m.checkpoint" / "checkpoint.pt").exists(), r.output
    return tmp_path / "m"


def test_resume_with_another_dataset_of_the_same_size_is_refused_naming_it(tmp_path, killed_training, small_dataset):
    from nidslab.data.datasets import write_dataset
    from nidslab.data.synthetic import make_synthetic

    X, y = make_synthetic(2_000, seed=2)
    other = write_dataset(tmp_path / "other", X, y).path
    r = _cli("train", "-o", str(killed_training), "--data", str(other), "--epochs", "3", "--resume")
    assert r.exit_code == 2, r.output
    said = f"was written by a run with other settings: its dataset is '{small_dataset}', this run's is '{other}'"
    assert said in r.output
    assert not killed_training.exists() and len(r.output.strip().splitlines()) == 1


@pytest.mark.parametrize(("flag", "where"), [(("--activation", "relu"), "model activation is 'sigmoid', this run's "
                                               "is 'relu'"), (("--lr", "0.5"), "lr is 0.1, this run's is 0.5"),
                                              (("--fraction", "0.5"), "fraction is 1.0, this run's is 0.5")])
def test_resume_with_other_settings_is_refused_naming_the_first_difference(killed_training, small_dataset, flag, where):
    r = _cli("train", "-o", str(killed_training), "--data", str(small_dataset), "--epochs", "3", "--resume", *flag)
    assert r.exit_code == 2 and where in r.output, r.output


def test_resume_with_the_same_run_continues(killed_training, small_dataset):
    r = _cli("train", "-o", str(killed_training), "--data", str(small_dataset), "--epochs", "3", "--resume")
    assert r.exit_code == 0, r.output
    import json

    assert len(json.loads((killed_training / "history.json").read_text())["loss"]) == 3


# --------------------------------------------------------------------------- 5: refused files in one line


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("damage", ["pickle", "torch zip with a pickle", "random bytes", "cut short"])
def test_refused_or_corrupt_weights_are_one_line_without_torchs_advice(tmp_path, small_dataset, damage):
    import io
    import os
    import pickle

    import torch

    m = tmp_path / "m"
    assert _cli("train", "-o", str(m), "--data", str(small_dataset), "--epochs", "1").exit_code == 0
    w = m / "weights.pt"
    if damage == "pickle":
        w.write_bytes(pickle.dumps(_Evil()))
    elif damage == "torch zip with a pickle":
        buf = io.BytesIO()
        torch.save({"x": _Evil()}, buf)
        w.write_bytes(buf.getvalue())
    elif damage == "random bytes":
        w.write_bytes(os.urandom(2000))
    else:
        w.write_bytes(w.read_bytes()[:300])
    r = _cli("evaluate", str(m))
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and f"{w}: refused: cannot be read as a " in lines[0], r.output
    assert "weights_only" not in r.output and "pwned" not in r.output
    if damage in ("pickle", "torch zip with a pickle"):
        assert "could run code" in lines[0]
        assert damage == "pickle" or "it names posix.system" in lines[0]


def test_a_malicious_checkpoint_is_refused_in_one_line(killed_training, small_dataset):
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"model": _Evil()}, buf)
    ckpt = killed_training.with_name(".m.checkpoint") / "checkpoint.pt"
    ckpt.write_bytes(buf.getvalue())
    r = _cli("train", "-o", str(killed_training), "--data", str(small_dataset), "--epochs", "3", "--resume")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "refused: cannot be read as a plain checkpoint (it names posix.system)" in r.output and "weights_only" not in r.output
    assert "delete it, or train without --resume" in r.output


# --------------------------------------------------------------------------- 3: an output that is an input


@pytest.fixture(scope="module")
def model_and_capture(tmp_path_factory):
    from nidslab.data.datasets import write_dataset
    from nidslab.data.synthetic import make_synthetic
    from nidslab.simulate import simulate_capture

    d = tmp_path_factory.mktemp("mc")
    X, y = make_synthetic(2_000, seed=1)
    data = write_dataset(d / "data", X, y).path
    assert _cli("train", "-o", str(d / "m"), "--data", str(data), "--epochs", "1").exit_code == 0
    simulate_capture(d / "cap.pcap", packets=3_000, seed=0)
    return d / "m", d / "cap.pcap"


def test_predict_onto_its_own_input_is_refused_and_the_input_kept(tmp_path, model_and_capture):
    import os

    m, cap = model_and_capture
    feats = tmp_path / "feat.csv"
    _csv(feats, np.random.default_rng(0).lognormal(2, 2, (40, 115)))
    before = feats.read_bytes()
    r = _cli("predict", str(m), str(feats), "-o", str(feats))
    assert r.exit_code == 2 and f"{feats}: is also the input; writing -o there would destroy it" in r.output, r.output
    assert feats.read_bytes() == before
    os.symlink(feats, tmp_path / "alias.csv")  # the same file under another name
    r = _cli("predict", str(m), str(tmp_path / "alias.csv"), "-o", str(feats))
    assert r.exit_code == 2 and "is also the input" in r.output and feats.read_bytes() == before


def test_watch_onto_its_own_capture_is_refused_and_the_capture_kept(tmp_path, model_and_capture):
    import shutil

    m, cap = model_and_capture
    live = tmp_path / "live.pcap"
    shutil.copy(cap, live)
    r = _cli("watch", str(m), str(live), "--no-follow", "--quiet", "-o", str(live))
    assert r.exit_code == 2 and f"{live}: is also the input" in r.output, r.output
    assert live.read_bytes() == cap.read_bytes()


def test_watch_leaves_an_existing_output_alone_when_stdin_is_not_a_capture(tmp_path, model_and_capture):
    import os
    import subprocess
    import sys

    m, _ = model_and_capture
    prev = tmp_path / "prev.jsonl"
    prev.write_text('{"time": 1}\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    run = subprocess.run([sys.executable, "-c", "from nidslab.cli import main; main()", "watch", str(m), "-", "--quiet",
                          "-o", str(prev)],
                         input=os.urandom(5000), env=env, capture_output=True)
    assert run.returncode == 2 and b"stdin is not a packet capture" in run.stderr, run.stderr
    assert prev.read_text() == '{"time": 1}\n'


# --------------------------------------------------------------------------- 4, 5: --window and --threshold


def test_predict_window_is_bounded_and_checked_before_any_work(tmp_path, model_and_capture):
    import resource

    m, cap = model_and_capture
    for window, shown in (("0", "0.0"), ("inf", "inf"), ("nan", "nan"), ("1e-9", "1e-09")):
        r = _cli("predict", str(m), str(cap), "-o", str(tmp_path / "s.csv"), "--window", window)
        assert r.exit_code == 2, r.output
        assert f"--window must be finite seconds, at least 1e-6 (a capture's time resolution), got {shown}" in r.output
        assert not (tmp_path / "s.csv").exists()
    from nidslab.predict import flagged_per_window

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, hard))  # the old bincount asked for 70 GiB here
    try:
        starts, packets, flagged = flagged_per_window(np.array([0.0, 1e-6, 7e3, 7e3]), np.array([1, 0, 1, 1]), 1e-6)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    np.testing.assert_allclose(starts, [0.0, 1e-6, 7e3])
    assert packets.tolist() == [1, 1, 2] and flagged.tolist() == [1, 0, 2]


@pytest.mark.parametrize("threshold", ["nan", "2", "-0.1"])
def test_evaluate_threshold_outside_0_1_is_one_line(model_and_capture, threshold):
    m, _ = model_and_capture
    r = _cli("evaluate", str(m), "--threshold", threshold)
    assert r.exit_code == 2 and f"--threshold must be a probability in [0, 1], got {float(threshold)}" in r.output
    assert "Traceback" not in r.output


# --------------------------------------------------------------------------- 5, 6: disks and devices, named


def test_train_on_cuda_without_cuda_is_one_line(tmp_path, small_dataset, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    r = _cli("train", "-o", str(tmp_path / "m"), "--data", str(small_dataset), "--epochs", "1", "--device", "cuda")
    assert r.exit_code == 2 and "device 'cuda': this torch" in r.output and "sees no CUDA GPU" in r.output, r.output
    assert not (tmp_path / "m").exists()


def test_a_full_disk_during_import_names_the_dataset_not_numpys_byte_counts(tmp_path, monkeypatch):
    import numpy

    def short_write(file, arr, *args, **kwargs):
        raise OSError("345000 requested and 48096 written")  # numpy's tofile when the disk fills up

    monkeypatch.setenv("NIDSLAB_HOME", str(tmp_path / "home"))
    np.save(tmp_path / "X.npy", np.random.default_rng(0).lognormal(2, 2, (50, 115)).astype(np.float32))
    np.save(tmp_path / "y.npy", (np.arange(50) % 2).astype(np.uint8))
    monkeypatch.setattr(numpy, "save", short_write)
    r = _cli("data", "import", str(tmp_path / "X.npy"), str(tmp_path / "y.npy"), "--name", "mine")
    assert r.exit_code == 2, r.output
    assert f"{tmp_path / 'home' / 'datasets' / 'mine'}: no space left on the device" in r.output
    assert list((tmp_path / "home" / "datasets").iterdir()) == []


@pytest.mark.parametrize("command", ["predict", "features extract"])
def test_a_full_disk_in_pyarrow_names_the_output_file(tmp_path, model_and_capture, monkeypatch, command):
    import pyarrow.csv

    def full(*args, **kwargs):
        raise OSError("[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left on device")

    class FullWriter:  # opens, then fails at the first batch, as a disk that fills up does
        def __init__(self, path, schema):
            open(path, "wb").close()

        write_batch = full

        def close(self):
            pass

    monkeypatch.setattr(pyarrow.csv, "write_csv", full)
    monkeypatch.setattr(pyarrow.csv, "CSVWriter", FullWriter)
    m, cap = model_and_capture
    out = tmp_path / "out.csv"
    args = ["predict", str(m), str(cap), "-o", str(out)] if command == "predict" else \
        ["features", "extract", str(cap), "-o", str(out)]
    r = _cli(*args)
    assert r.exit_code == 2, r.output
    assert f"{out}: no space left on the device" in r.output and "Errno" not in r.output
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_folder_names_the_users_file_not_the_temp_one(tmp_path, monkeypatch):
    import errno
    import tempfile

    def read_only(*args, dir=None, prefix="", suffix="", **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", f"{dir}/{prefix}abcd{suffix}")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    r = _cli("simulate", "-o", str(tmp_path / "x.pcap"), "--packets", "2000")
    assert r.exit_code == 2, r.output
    assert f"{tmp_path / 'x.pcap'}: the file system is read-only" in r.output and ".tmp" not in r.output


@pytest.mark.parametrize(("command", "said"), [
    ("simulate", "nothing half-written was left; run the same command again to start over"),
    ("data import", "nothing half-written was left"),
    ("train", "run the same command again with --resume to continue"),
    ("lab", "finished parts are cached; run the same command again to resume"),
])
def test_ctrl_c_says_what_resumes_and_what_does_not(tmp_path, small_dataset, monkeypatch, command, said):
    import nidslab.data
    import nidslab.simulate
    import nidslab.study
    import nidslab.train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    module, name, args = {
        "simulate": (nidslab.simulate, "simulate_capture", ["simulate", "-o", str(tmp_path / "x.pcap")]),
        "data import": (nidslab.data, "import_dataset", ["data", "import", str(tmp_path / "X.npy"), "--name", "n"]),
        "train": (nidslab.train, "fit", ["train", "-o", str(tmp_path / "m"), "--data", str(small_dataset)]),
        "lab": (nidslab.study, "run_study", ["lab", "--quick", "--out", str(tmp_path / "runs")]),
    }[command]
    monkeypatch.setattr(module, name, interrupted)  # Ctrl-C in the middle of the command's work
    r = _cli(*args)
    assert r.exit_code == 130 and said in r.output, r.output
    assert (command == "lab") == ("to resume" in r.output)


# --------------------------------------------------------------------------- 7: leftovers


def test_a_dead_writers_fresh_temp_folder_goes_at_the_next_import(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    from nidslab.data.datasets import list_leftovers, write_dataset

    monkeypatch.setenv("NIDSLAB_HOME", str(tmp_path))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    assert subprocess.run([sys.executable, "-c", _KILLED_WRITER], env=env).returncode == -9
    (left,) = tmp_path.glob("datasets/.victim.*.tmp")  # seconds old: its writer is dead all the same
    (found,) = list_leftovers()
    assert found.stale and found.age_s < 60
    write_dataset("next", np.zeros((5, 115), np.float32), np.zeros(5, np.uint8))
    assert not left.exists()


def test_lab_on_a_missing_dataset_leaves_no_run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NIDSLAB_HOME", str(tmp_path / "home"))
    r = _cli("lab", "--data", "nosuchdataset", "--out", str(tmp_path / "runs"))
    assert r.exit_code == 2 and "no dataset named 'nosuchdataset'" in r.output, r.output
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


# --------------------------------------------------------------------------- 8: silent nonsense


@pytest.mark.parametrize("fraction", ["1e-9", "0.005"])
def test_a_fraction_too_small_for_every_split_is_refused(tmp_path, small_dataset, fraction):
    r = _cli("train", "-o", str(tmp_path / "m"), "--data", str(small_dataset), "--epochs", "1", "--fraction", fraction)
    assert r.exit_code == 2, r.output
    assert f"fraction {float(fraction):g} keeps about" in r.output and "each class needs at least 20" in r.output
    assert "Use a fraction of at least" in r.output and not (tmp_path / "m").exists()


def test_evaluate_refuses_a_model_that_records_no_training_data(tmp_path, small_dataset):
    import json

    m = tmp_path / "m"
    assert _cli("train", "-o", str(m), "--data", str(small_dataset), "--epochs", "1").exit_code == 0
    metrics = json.loads((m / "metrics.json").read_text())
    del metrics["data"]
    (m / "metrics.json").write_text(json.dumps(metrics))
    r = _cli("evaluate", str(m))
    assert r.exit_code == 2, r.output
    assert "metrics.json records no training data" in r.output and "nidslab predict" in r.output
