"""Benchmark: the cost of lava-state's renderer (bounds, budget, secure tracking) vs
Jinja's own immutable sandbox, on the same templates and context, in one run.

No AWS: rendering only, compiled templates cached (warm), as a scheduler
expanding the same specs run after run. Subjects, interleaved round by
round so that machine noise hits both alike, medians reported:

* ``jinja``: ``ImmutableSandboxedEnvironment().from_string(t).render(ctx)`` for
  every string of the spec (the baseline: no bounds, no state resolution,
  no secure tracking);
* ``lava-state``: ``Renderer(ctx, state=..., secure=...).render(spec)``: every
  operation bounded, the time and output budget, references analysed,
  secure strings recorded.

The spec: 100 strings each reading two state entries (one through a filter),
a loop over the state map with arithmetic, a ``~`` concatenation; one state
entry is secure.

Usage: ``.venv/bin/python bench/bench_render.py [--rounds N]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment

from lava_state.templating import Renderer

STATE = {f"id{i}": {"rows": i, "name": f"n{i}"} for i in range(100)}
SPEC: dict[str, Any] = {
    "steps": [
        f"echo {{{{ state.id{i}.rows }}}} {{{{ state.id{i}.name|upper }}}}" for i in range(100)
    ],
    "loop": "{% for k, v in state|dictsort %}{{ k }}={{ v.rows * 2 + 1 }};{% endfor %}",
    "concat": "{{ job.steps[0] ~ '-' ~ job.steps[1] }}",
}
CONTEXT = {"job": SPEC, "state": STATE}
SECURE = {"state": [("id7",)], "job": [("state", "id7")]}


def strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds

    env = ImmutableSandboxedEnvironment()
    texts = strings(SPEC)
    templates = {text: env.from_string(text) for text in texts}

    def jinja() -> None:
        for text in texts:
            templates[text].render(CONTEXT)

    def lava_state() -> None:
        Renderer(CONTEXT, state=STATE, secure=SECURE).render(SPEC)

    subjects = {"jinja": jinja, "lava-state": lava_state}
    for subject in subjects.values():  # warm: compile and cache
        subject()
    times: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(rounds):
        for name, subject in subjects.items():
            started = time.perf_counter()
            subject()
            times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    print(
        f"# lava-state bench_render: python {platform.python_version()}, "
        f"{os.cpu_count()} cpus, {rounds} rounds interleaved, medians"
    )
    print(
        f"{len(texts)} templates: jinja {medians['jinja']:.2f} ms, "
        f"lava-state {medians['lava-state']:.2f} ms, "
        f"lava-state/jinja {medians['lava-state'] / medians['jinja']:.2f}x"
    )


if __name__ == "__main__":
    main()
