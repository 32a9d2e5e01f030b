"""What changed on disk: stat stamps for files the server re-reads while running."""

from __future__ import annotations

from pathlib import Path

Stamp = tuple[tuple[int, int, int], ...]


def stamp(*paths: Path | None) -> Stamp:
    """(inode, size, mtime) of each file, following symlinks (Kubernetes swaps Secret and
    ConfigMap files through a symlink, so the inode changes); zeros for a missing file."""
    stamps = []
    for path in paths:
        if path is None:
            continue
        try:
            st = path.stat()
        except OSError:
            stamps.append((0, 0, 0))
            continue
        stamps.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(stamps)
