"""A small filesystem of the test's own, to run the blob store out of space for real.

A tmpfs of a few MiB is mounted on a directory under the test's tmp_path and unmounted when the
test ends. Mounting needs root (or CAP_SYS_ADMIN); where the machine refuses, the test is
skipped loudly with the reason, never silently passed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.skips import skip_loudly


@contextmanager
def small_tmpfs(path: Path, size_bytes: int) -> Iterator[Path]:
    """Mount a tmpfs of ``size_bytes`` on ``path`` (created if missing) while the block runs."""
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        skip_loudly("disk-full tests need mount(8) to create a small tmpfs; it is not installed")
    if os.geteuid() != 0:
        skip_loudly("disk-full tests mount a small tmpfs, which needs root; running as non-root")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "ftapi-test", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        skip_loudly(
            "disk-full tests need a small tmpfs and this machine refused the mount: "
            + (mounted.stderr.strip() or f"mount exited {mounted.returncode}")
        )
    try:
        yield path
    finally:
        # --lazy: a process the test failed to stop must not leave the mount behind.
        subprocess.run([umount, "--lazy", str(path)], check=True)


def free_bytes(path: Path) -> int:
    """Bytes still free on the filesystem holding ``path``."""
    return shutil.disk_usage(path).free
