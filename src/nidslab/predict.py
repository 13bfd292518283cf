"""Scoring traffic with a saved model: a capture's packets through the feature extractor and the network.

:meth:`nidslab.saved_model.SavedModel.predict` scores a features table; :func:`predict_capture` reads a
pcap/pcapng, extracts the UCI-layout Kitsune features of every decoded packet and scores them;
:func:`flagged_per_window` summarises the labels over time; :func:`read_packet_labels` reads a capture's
per-packet labels (``nidslab simulate``'s ``NAME.labels.csv``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nidslab.errors import DataError
from nidslab.progress import Progress

if TYPE_CHECKING:
    from nidslab.saved_model import SavedModel

#: file name endings :func:`predict_capture` reads (anything else is read as a features table)
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")


@dataclass(frozen=True)
class CaptureScores:
    """Per packet of a capture: ``times`` (n,) float64 seconds and ``scores`` (n,) float32 (the
    malicious-class probability for a binary head)."""

    times: np.ndarray
    scores: np.ndarray


def capture_features(path: str | os.PathLike, *, progress: Progress | None = None, layout: str = "uci"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(n, 115)`` float32 (UCI layout; ``layout="kitsune-py"``: (n, 100)) and timestamps ``(n,)``
    float64 of every decoded packet.

    ``progress(packets_done, None, message)`` after each chunk of packets. Raises :class:`DataError`
    when no packet decodes.
    """
    from nidslab.features.extract import FeatureExtractor
    from nidslab.features.pcap import iter_packets

    fx = FeatureExtractor(layout)
    feats, times, done = [], [], 0
    for packets in iter_packets(path):
        feats.append(fx.transform(packets))
        times.append(packets.ts)
        done += len(packets)
        if progress is not None:
            progress(done, None, f"reading {os.path.basename(path)}")
    if not feats:
        raise DataError(f"{path}: no packets decoded")
    return np.concatenate(feats), np.concatenate(times)


@dataclass(frozen=True)
class CaptureRows:
    """Every decoded packet of a capture, for incidents: ``features`` (n, 115) float32 (UCI layout),
    ``times`` (n,) float64 seconds, ``host`` (n,) int32 source host ids into ``host_names`` (source IP,
    or MAC for frames without IP; :class:`nidslab.incidents.HostTable`), ``packets`` the decoded
    :class:`nidslab.features.Packets` (flow fields of the alerting packets); ``peer``, ``accepts``, ``outside``:
    the contact rule's inputs (:func:`nidslab.contacts.packet_contacts`)."""

    features: np.ndarray
    times: np.ndarray
    host: np.ndarray
    host_names: list
    packets: object
    peer: np.ndarray | None = None
    accepts: np.ndarray | None = None
    outside: tuple[int, ...] = ()


def capture_rows(path: str | os.PathLike, *, progress: Progress | None = None) -> CaptureRows:
    """:func:`capture_features` plus the source host of every packet and the packets themselves."""
    from nidslab.features.extract import FeatureExtractor
    from nidslab.features.pcap import Packets, iter_packets
    from nidslab.incidents import HostTable

    from nidslab.contacts import packet_contacts

    fx = FeatureExtractor("uci")
    table = HostTable()
    feats, parts, hosts, peers, accepts, done = [], [], [], [], [], 0
    outside: set[int] = set()
    for packets in iter_packets(path):
        feats.append(fx.transform(packets))
        hosts.append(table.ids(packets))
        peer, acc, out = packet_contacts(packets, table)
        outside.update(out)
        peers.append(peer)
        accepts.append(acc)
        parts.append(packets)
        done += len(packets)
        if progress is not None:
            progress(done, None, f"reading {os.path.basename(path)}")
    if not feats:
        raise DataError(f"{path}: no packets decoded")
    pk = Packets.concat(parts)
    return CaptureRows(np.concatenate(feats), pk.ts, np.concatenate(hosts), table.names, pk,
                       peer=np.concatenate(peers), accepts=np.concatenate(accepts), outside=tuple(sorted(outside)))


def predict_capture(saved: SavedModel, capture: str | os.PathLike, *, progress: Progress | None = None) -> CaptureScores:
    """Score every decoded packet of ``capture`` with ``saved`` (a :class:`nidslab.saved_model.SavedModel`)."""
    X, times = capture_features(capture, progress=progress)
    return CaptureScores(times=times, scores=saved.predict(X, source=str(capture)))


def read_packet_labels(path: str | os.PathLike, packets: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-packet labels of a capture of ``packets`` records (None: not checked), in capture order: ``nidslab
    simulate``'s ``NAME.labels.csv`` (its ``truth`` column; CSV or Parquet), or any file of one 0/1 label per
    packet (:func:`nidslab.data.read_labels`). Returns truth (packets,) uint8 and, when the file has a ``phase``
    column, the attack phase names (packets,) str, else None."""
    from nidslab.data import read_labels

    path = Path(path)
    named = _named_columns(path, ("truth", "phase"))  # one read of the file for both
    column = named.get("truth")
    if column is None:
        truth = read_labels(path)
    else:
        import pyarrow as pa

        try:
            values = np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False))  # an empty cell: nan
        except pa.ArrowInvalid:
            raise DataError(f"{path}: column truth holds {column.type}; expected 0 (benign) or 1 (malicious)") from None
        bad = ~np.isin(values, (0, 1))
        if bad.any():
            i = int(np.argmax(bad))
            where = f"line {i + 2}" if path.suffix.lower() == ".csv" else f"row {i + 1}"
            shown = "an empty cell" if np.isnan(values[i]) else f"{values[i]:g}"
            raise DataError(f"{path}: column truth, {where}: {shown}; labels must be 0 (benign) or 1 (malicious)")
        truth = values.astype(np.uint8)
    if packets is not None and len(truth) != packets:
        raise DataError(f"{path}: {len(truth):,} labels, but the capture has {packets:,} packets; expected one label "
                        "per packet, in capture order")
    phase = named.get("phase")
    return truth, None if phase is None else np.asarray(phase.fill_null("").to_numpy(zero_copy_only=False), dtype=str)


def _named_columns(path: Path, names: tuple[str, ...]) -> dict[str, Any]:
    """Those of columns ``names`` that a CSV or Parquet file has, as pyarrow arrays (``phase`` as text), read
    in one pass; {} for other files."""
    kind = path.suffix.lower()
    try:
        if kind == ".parquet":
            import pyarrow.parquet as pq

            present = [n for n in names if n in pq.read_schema(path).names]
            return {} if not present else {n: c for n, c in zip(present, pq.read_table(path, columns=present).columns)}
        if kind == ".csv":
            import pyarrow as pa
            import pyarrow.csv as pacsv

            with pacsv.open_csv(path) as reader:  # the header only
                present = [n for n in names if n in reader.schema.names]
            if not present:
                return {}
            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                include_columns=present, column_types={n: pa.string() for n in present if n == "phase"}))
            return {n: table[n] for n in present}
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:  # pyarrow's parse errors are ValueErrors (ArrowInvalid)
        raise DataError(f"{path}: not a readable labels file ({exc})") from None
    return {}


def flagged_per_window(times: np.ndarray, labels: np.ndarray,
                       window: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Packets and flagged packets per ``window``-second window from the first packet's time.

    ``times`` (n,) seconds, ``labels`` (n,) 0/1. Returns ``(starts, packets, flagged)`` for the
    windows holding packets: start seconds (float64) from the first packet, and int64 counts.
    """
    if not 1e-6 <= window < np.inf:
        raise ValueError(f"window must be finite seconds, at least 1e-6 (a capture's time resolution), got {window}")
    which = ((np.asarray(times) - float(times[0])) // window).astype(np.int64)
    # only the windows that hold packets: memory grows with the packets, never with span / window
    rows, at, n = np.unique(which, return_inverse=True, return_counts=True)
    flagged = np.bincount(at.ravel(), weights=labels, minlength=len(rows)).astype(np.int64)
    return rows * float(window), n.astype(np.int64), flagged


__all__ = ["predict_capture", "capture_features", "capture_rows", "CaptureRows", "flagged_per_window", "CaptureScores", "CAPTURE_SUFFIXES"]
