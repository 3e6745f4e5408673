"""The stream processor's package: this project's wheel and its runtime
dependencies, installed into one directory and zipped for Lambda.

``make lambda-zip`` and ``lava-state deploy`` run the same builder
(``python -m lava_state_cli.package``). The zip is reproducible (sorted entries,
fixed timestamps and modes), so an unchanged source tree gives the same bytes,
hence the same content-addressed key and no new upload.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

#: The function's runtime in deploy/lava-state.yaml: Python 3.12 on arm64.
LAMBDA_PLATFORM = (
    "--platform",
    "manylinux2014_aarch64",
    "--implementation",
    "cp",
    "--python-version",
    "3.12",
    "--only-binary=:all:",
)
LAMBDA_PYTHON = (3, 12)
#: The source tree this module runs from (the package is built from it).
SOURCE = Path(__file__).resolve().parent.parent
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say


class PackageError(Exception):
    """The package could not be built (pip's own message is in it)."""


def build_package(
    out: Path,
    *,
    platform: str = "lambda",
    source: Path = SOURCE,
    work: Path | None = None,
    compile_bytecode: bool | None = None,
) -> Path:
    """Build the processor's zip at ``out`` and return it.

    ``platform`` "lambda" installs wheels for the function's runtime; "local" for
    this interpreter (what the test suite runs). ``compile_bytecode`` adds
    ``__pycache__`` for this interpreter's version, which halves the handler's
    cold import (bench/bench_package.py) but only when it is the runtime's
    version: None (default) compiles when it is (always for "local").

    Raises:
        PackageError: ``source`` is no source tree, or pip failed (no network and
            no cached wheel, a dependency without a wheel for the platform).
    """
    if not (source / "pyproject.toml").is_file():
        raise PackageError(
            f"{source} is not a lava-state source tree: build the package from a checkout "
            "or pass a prebuilt one (lava-state deploy --package FILE)"
        )
    work = work or source / "build" / f"package-{platform}"
    shutil.rmtree(work, ignore_errors=True)
    wheels, target = work / "wheel", work / "target"
    _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(source))
    platform_options = LAMBDA_PLATFORM if platform == "lambda" else ()
    _pip(
        "install",
        "--quiet",
        "--no-compile",
        *platform_options,
        "--target",
        str(target),
        *(str(wheel) for wheel in sorted(wheels.glob("*.whl"))),
    )
    if compile_bytecode is None:
        compile_bytecode = platform != "lambda" or sys.version_info[:2] == LAMBDA_PYTHON
    if compile_bytecode:
        import compileall
        import py_compile

        # Unchecked hash-based pycs: valid whatever the files' times (the zip's are fixed).
        compileall.compile_dir(
            target,
            quiet=1,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_zip(target, out)
    return out


def write_zip(directory: Path, out: Path) -> None:
    """Zip ``directory``'s files reproducibly (sorted, fixed times and modes)."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            # pip's record of where the wheel came from (a path on this machine).
            if path.name == "direct_url.json":
                continue
            info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), _FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def _pip(*args: str) -> None:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise PackageError(f"pip {args[0]} failed: {done.stderr.strip()[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    """``python -m lava_state_cli.package [--out ZIP] [--platform lambda|local]``."""
    parser = argparse.ArgumentParser(prog="python -m lava_state_cli.package")
    parser.add_argument("--out", type=Path, default=SOURCE / "build" / "lava-state-processor.zip")
    parser.add_argument("--platform", choices=("lambda", "local"), default="lambda")
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="include precompiled bytecode (default: when this Python is the runtime's)",
    )
    args = parser.parse_args(argv)
    try:
        built = build_package(args.out, platform=args.platform, compile_bytecode=args.compile)
    except PackageError as exc:
        print(f"lava-state: {exc}", file=sys.stderr)
        return 1
    print(f"built {built} ({built.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
