"""Upload a generated ~1 GB JSONL through the SDK to a local-disk api; compare with `cp`.

Prints the upload's MB/s, the server's peak RSS, and in the same run the MB/s of `cp` of the same
file on the same disk, with the ratio. Targets (issue #2): server RSS < 300 MB, ratio >= 0.3.

    python bench/upload.py [--size-mb 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from openai import OpenAI

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.services import port_open
from tests.support.stack import ApiServer, StackConfig

MB = 1024 * 1024


def generate_jsonl(path: Path, size_bytes: int) -> None:
    """A chat JSONL of about ``size_bytes`` bytes, written in large blocks."""
    line = (
        b'{"messages": [{"role": "system", "content": "You are terse."}, '
        b'{"role": "user", "content": "What is the capital of France? Answer in one word."}, '
        b'{"role": "assistant", "content": "Paris."}]}\n'
    )
    block = line * (4 * MB // len(line))
    with path.open("wb") as out:
        written = 0
        while written < size_bytes:
            out.write(block)
            written += len(block)


def peak_rss_bytes(pid: int) -> int:
    """The process's high-water resident set size (VmHWM) from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found")


def time_cp(source: Path, target: Path) -> float:
    """Seconds for `cp` + fsync of the copy, like the api's durable write."""
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    with target.open("rb") as copied:
        os.fsync(copied.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def time_user_space_copy(source: Path, target: Path) -> float:
    """Seconds for a read/write copy through user space in 4 MiB blocks + fsync (for context:
    `cp` on ext4 copies inside the kernel with copy_file_range and never touches the bytes)."""
    started = time.perf_counter()
    with source.open("rb") as src, target.open("wb") as dst:
        while block := src.read(4 * MB):
            dst.write(block)
        dst.flush()
        os.fsync(dst.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ftapi-bench-upload-", dir=os.environ.get("BENCH_DIR")))
    try:
        source = work / "train.jsonl"
        generate_jsonl(source, args.size_mb * MB)
        size = source.stat().st_size
        redis_url = "redis://127.0.0.1:6379/0"
        if not port_open("127.0.0.1", 6379):
            sys.exit("bench/upload.py needs Redis on 127.0.0.1:6379 (the api's /readyz checks it)")
        config = StackConfig(
            data_dir=work / "data",
            redis_url=redis_url,
            extra_env={"FTAPI_LIMITS__MAX_FILE_BYTES": str(4 * size)},
        )
        upload_s: list[float] = []
        cp_s: list[float] = []
        validate_s: list[float] = []
        user_copy_s: list[float] = []
        with ApiServer(config) as api:
            rss_before = api.rss_bytes()
            client = OpenAI(base_url=api.base_url, api_key=api.new_key("bench"), max_retries=0)
            for _ in range(args.repeats):
                cp_s.append(time_cp(source, work / "copy.jsonl"))
                user_copy_s.append(time_user_space_copy(source, work / "copy.jsonl"))
                started = time.perf_counter()
                created = client.files.create(file=source, purpose="fine-tune")
                upload_s.append(time.perf_counter() - started)
                assert created.bytes == size
                # Content validation runs after the upload answers; let it finish (untimed here,
                # bench/validate.py measures it) so it does not compete with the next repeat.
                started = time.perf_counter()
                client.files.wait_for_processing(created.id, poll_interval=0.2)
                validate_s.append(time.perf_counter() - started)
                client.files.delete(created.id)
            peak = peak_rss_bytes(api.pid)
        upload_mb_s = size / MB / statistics.median(upload_s)
        cp_mb_s = size / MB / statistics.median(cp_s)
        print(f"file: {size / MB:.0f} MB, repeats: {args.repeats} (medians)")
        print(f"upload through SDK : {upload_mb_s:8.1f} MB/s")
        print(f"cp on the same disk: {cp_mb_s:8.1f} MB/s")
        print(f"ratio upload/cp    : {upload_mb_s / cp_mb_s:8.2f}   (target >= 0.3)")
        user_mb_s = size / MB / statistics.median(user_copy_s)
        print(f"user-space copy    : {user_mb_s:8.1f} MB/s  (read/write 4 MiB + fsync)")
        print(f"ratio upload/that  : {upload_mb_s / user_mb_s:8.2f}")
        validate_mb_s = size / MB / statistics.median(validate_s)
        print(f"then validation    : {validate_mb_s:8.1f} MB/s  (background, after the answer)")
        print(
            f"server RSS         : {rss_before / MB:.0f} MB idle, {peak / MB:.0f} MB peak "
            "(target < 300 MB)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
