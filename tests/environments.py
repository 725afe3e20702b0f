"""The per-job environments of envs/ as pip sees them: their requirements, and virtual
environments built from them (cached by content, so an unchanged file is installed once)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
ENVS = REPO / "envs"
# Built environments are shared by every clone of the project on a machine (as pre-commit
# shares its hook environments): keyed by their requirements, so an edited file is rebuilt.
CACHE = Path(
    os.environ.get("TEACHERGRID_ENV_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "teachergrid" / "envs"
)
# conda-only entries with no PyPI package to resolve
CONDA_ONLY = {"python", "pip"}


def requirements(env_file: Path) -> list[str]:
    """Every package an environment file asks for, written as pip requirements (a conda
    `name=1.2` pin becomes `name==1.2`)."""
    spec = yaml.safe_load(env_file.read_text())
    out: list[str] = []
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):
            out += [str(d) for d in dep.get("pip", [])]
            continue
        name = dep.split("=")[0].split(">")[0].split("<")[0].strip()
        if name in CONDA_ONLY:
            continue
        if "=" in dep and not any(op in dep for op in ("==", ">=", "<=")):
            dep = dep.replace("=", "==", 1)
        out.append(dep)
    return out


def fresh_venv(path: Path) -> Path:
    """A new virtual environment at `path`; returns its python."""
    shutil.rmtree(path, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path / "bin" / "python"


def pip(python: Path, *args: str, timeout: int = 1500) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def built_env(env_file: Path, extra: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> Path:
    """A virtual environment with an environment file's requirements (plus `extra`, minus
    `remove`) installed; returns its python. Rebuilt only when the requirements change."""
    reqs = requirements(env_file) + list(extra)
    key = hashlib.sha1("\n".join([*reqs, "-", *remove]).encode()).hexdigest()[:12]
    root = CACHE / f"{env_file.stem}-{key}"
    python = root / "bin" / "python"
    if (root / "ready").exists():
        return python
    python = fresh_venv(root)
    proc = pip(python, "install", "--quiet", *reqs)
    assert proc.returncode == 0, f"{env_file.name}: pip install failed\n{proc.stderr[-3000:]}"
    if remove:
        proc = pip(python, "uninstall", "--yes", *remove)
        assert proc.returncode == 0, proc.stderr[-2000:]
    (root / "ready").write_text("\n".join(reqs) + "\n")
    return python


def imports_in(python: Path, modules: list[str]) -> subprocess.CompletedProcess[str]:
    """Import modules in an environment with the package reaching it as jobs get it: from
    this checkout through PYTHONPATH, not installed."""
    code = (
        "; ".join(f"import {m}" for m in modules)
        + "; import teachergrid; print(teachergrid.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, env=env, cwd="/", timeout=600
    )
