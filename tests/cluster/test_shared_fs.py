"""search/cluster/shared_fs.py: the mount holding a path decides whether other nodes see it."""

from __future__ import annotations

from pathlib import Path

from search.cluster.shared_fs import filesystem_type, shared_path_problem

MOUNTS = """overlay / overlay rw 0 0
/dev/sda1 /scratch ext4 rw 0 0
nas:/home /home nfs4 rw 0 0
lustre@o2ib:/proj /proj lustre rw 0 0
tmpfs /home/user/tmp tmpfs rw 0 0
"""


def test_the_longest_mount_above_a_path_decides_even_for_a_path_not_made_yet():
    assert filesystem_type(Path("/home/user/studies/x.log"), MOUNTS) == ("/home", "nfs4")
    assert filesystem_type(Path("/home/user/tmp/x"), MOUNTS) == ("/home/user/tmp", "tmpfs")
    assert filesystem_type(Path("/proj/a/b"), MOUNTS) == ("/proj", "lustre")
    assert filesystem_type(Path("/homework"), MOUNTS) == ("/", "overlay")  # not under /home


def test_a_local_disk_is_refused_with_where_and_what_would_do():
    assert shared_path_problem(Path("/home/u/s.log"), MOUNTS) is None
    problem = shared_path_problem(Path("/scratch/s.log"), MOUNTS)
    assert problem.startswith("it is on a ext4 filesystem mounted at /scratch") and "nfs" in problem


def test_an_automounted_home_counts_by_the_filesystem_mounted_over_the_trigger():
    automounted = "auto.home /home autofs rw 0 0\nnas:/home/u /home/u nfs4 rw 0 0\n" \
                  "ceph /ceph fuse.ceph-fuse rw 0 0\n"
    assert shared_path_problem(Path("/home/u/s.log"), automounted) is None
    assert shared_path_problem(Path("/ceph/s.log"), automounted) is None


def test_unreadable_mounts_are_a_reason_not_a_traceback(monkeypatch):
    def unreadable(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_text", unreadable)
    assert shared_path_problem(Path("/home/u/s.log")) == (
        "its filesystem cannot be told: /proc/mounts could not be read (Permission denied)")
