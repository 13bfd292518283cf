"""Part 3: the machine the study ran on (CPU, memory, GPU), read from the machine itself. Runs in every
study and is never cached (it describes this run's machine)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nidslab.study.blocks import Block, Rendered
from nidslab.study.context import Context
from nidslab.study.numbers import fmt
from nidslab.study.results import doc, optional, to_plain

NAME = "hardware"
NEEDS: tuple[str, ...] = ()
CACHE = "none"
Config = None   # no table: every study runs it


@dataclass
class Result:
    cpu: dict[str, Any] = doc("model, logical_cores, physical_cores, usable_cores (this process's affinity)")
    memory_bytes: int | None = doc("RAM in bytes (None where the machine does not say)")
    gpu: dict[str, Any] | None = doc("name, memory_bytes, sm_count, compute_capability, cuda_cores, count; "
                                     "null on a CPU-only machine")
    torch_threads: int | None = doc("torch's CPU thread count at the start")
    memory_gib: float | None = optional("RAM in GiB, rounded to 0.1")
    platform: str | None = optional("platform.platform()")
    python: str | None = optional("Python version")
    device: str | None = optional("where the networks trained: cpu or cuda (<name>)")


def run(cfg: None, ctx: Context) -> Result:
    from nidslab.study.hardware import describe_hardware

    return Result(**describe_hardware(), device=ctx.device)


def render(result: Result, results: dict[str, Any]) -> Rendered:
    h = to_plain(result)
    cpu = h["cpu"]
    rows = [["CPU", cpu["model"]], ["logical cores", fmt(cpu["logical_cores"], "int")],
            ["physical cores", fmt(cpu.get("physical_cores"), "int")],
            ["cores usable by this process", fmt(cpu["usable_cores"], "int")],
            ["memory", fmt(h.get("memory_bytes"), "gib")], ["torch threads", fmt(h.get("torch_threads"), "int")]]
    g = h.get("gpu")
    if g:
        rows += [["GPU", g["name"]], ["GPU memory", fmt(g["memory_bytes"], "gib")],
                 ["streaming multiprocessors", fmt(g["sm_count"], "int")],
                 ["CUDA cores", fmt(g.get("cuda_cores"), "int")],
                 ["compute capability", g["compute_capability"]]]
    else:
        rows.append(["GPU", "none (CUDA not available): everything ran on the CPU"])
    blocks: list[Block] = [("h2", "Part 3: hardware"), ("table", ["", "this machine"], rows)]
    return blocks, {}
