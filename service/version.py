"""What build is running: the package version and the source revision (s2s_build_info)."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


def package_version() -> str:
    try:
        return metadata.version("seq2seq-serve")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def source_revision(configured: str = "") -> str:
    """``configured`` if set (container images pass it in), else the checkout's git HEAD."""
    if configured:
        return configured
    try:
        done = subprocess.run(
            ["git", "-C", str(_ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"
