"""Benchmark of the stream processor's package (issue 12): size, and cold import of
the handler with and without precompiled bytecode, in one run.

    .venv/bin/python bench/bench_package.py

Builds the package for this interpreter (``python -m lava_state_cli.package
--platform local``, the command ``make lambda-zip`` runs for Lambda's platform),
with and without ``--compile``, unpacks each into an empty directory and times
``import stream_processor.handler`` in fresh ``python -I -S`` processes with
only that directory on the path (interleaved runs, medians). Bytecode only
helps when it was compiled by the runtime's own Python version (3.12 on
Lambda): measured here with this interpreter, it shows what the runtime gains.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from lava_state_cli.package import build_package

RUNS = 15
_IMPORT = "import sys; sys.path.insert(0, sys.argv[1]); import stream_processor.handler"


def _unpack(zip_path: Path, directory: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(directory)
    return directory


def _import_seconds(directory: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-I", "-S", "-B", "-c", _IMPORT, str(directory)], check=True)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain = build_package(root / "plain.zip", platform="local", work=root / "w1")
        compiled = build_package(
            root / "compiled.zip", platform="local", work=root / "w2", compile_bytecode=True
        )
        dirs = {
            "source only": _unpack(plain, root / "u1"),
            "bytecode": _unpack(compiled, root / "u2"),
        }
        times: dict[str, list[float]] = {name: [] for name in dirs}
        for _ in range(RUNS):
            for name, directory in dirs.items():
                times[name].append(_import_seconds(directory))
        unzipped = {
            name: sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
            for name, d in dirs.items()
        }
        zipped = plain.stat().st_size, compiled.stat().st_size
    print(
        f"package (zip): {zipped[0] / 1e6:.1f} MB without bytecode, {zipped[1] / 1e6:.1f} MB with"
    )
    print(
        f"unzipped: {unzipped['source only'] / 1e6:.1f} MB / {unzipped['bytecode'] / 1e6:.1f} MB"
        " (Lambda's limit: 250 MB)"
    )
    source, bytecode = (statistics.median(times[n]) for n in ("source only", "bytecode"))
    print(f"cold import of the handler ({RUNS} runs, medians; -B: nothing written)")
    print(f"  source only: {source * 1000:.0f} ms (compiles every module at each cold start)")
    print(f"  bytecode:    {bytecode * 1000:.0f} ms ({source / bytecode:.2f}x faster)")


if __name__ == "__main__":
    main()
