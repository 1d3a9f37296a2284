"""Whether a path lies on a filesystem other nodes can see (NFS, Lustre, GPFS, ...).

Read from ``/proc/mounts``: the longest mount point above the path decides. A journal
file or a checkpoint folder on a node's local disk would split a sweep into studies
that never meet, so ``slurm --check-shared`` refuses one.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["shared_path_problem", "SHARED_TYPES", "filesystem_type"]

SHARED_TYPES = ("nfs", "nfs4", "lustre", "gpfs", "beegfs", "fuse.beegfs", "cephfs", "ceph",
                "glusterfs", "fuse.glusterfs", "panfs", "wekafs", "fuse.sshfs", "cifs", "smb3",
                "9p", "virtiofs", "fuse.juicefs", "fuse.gcsfuse", "fuse.s3fs", "fuse.ceph-fuse",
                "fuse.ceph")


def filesystem_type(path: Path, mounts: str | None = None) -> tuple[str, str]:
    """(mount point, type) of the mount holding ``path`` (which need not exist yet)."""
    if mounts is None:
        mounts = Path("/proc/mounts").read_text()
    target = path.resolve()
    best = ("/", "unknown")
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        if (target == Path(point) or Path(point) in target.parents) and len(point) >= len(best[0]):
            best = (point, parts[2])
    return best


def shared_path_problem(path: Path, mounts: str | None = None) -> str | None:
    """Why ``path`` is not on a shared filesystem, or None when it is."""
    try:
        point, kind = filesystem_type(path, mounts)
    except OSError as exc:  # no /proc (not Linux), or not readable
        return f"its filesystem cannot be told: /proc/mounts could not be read ({exc.strerror})"
    if kind in SHARED_TYPES:
        return None
    return (f"it is on a {kind} filesystem mounted at {point}, which other nodes do not see "
            f"(shared types: nfs, lustre, gpfs, beegfs, cephfs, ...)")
