"""``python -m gpu_runner.export BASE_DIR ADAPTER_DIR OUT_DIR REPORT_JSON [options]``.

Started by the gpu worker, never by hand. Exit status 0: ``OUT_DIR`` holds the merged model and
``REPORT_JSON`` the check's figures; 2: the logits check failed, 1: anything else; either way
``REPORT_JSON`` then holds ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

LOGITS_MISMATCH_CODE = "merged_logits_mismatch"
MERGE_FAILED_CODE = "merge_failed"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu_runner.export")
    parser.add_argument("base_dir", type=Path)
    parser.add_argument("adapter_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("report", type=Path)
    parser.add_argument("--chat-template", type=Path, default=None)
    parser.add_argument("--max-shard-size", default=None)
    args = parser.parse_args(argv)

    from gpu_runner.export.merge import (
        DEFAULT_MAX_SHARD_SIZE,
        LogitsMismatch,
        merge_adapter,
        write_report,
    )

    template = None if args.chat_template is None else args.chat_template.read_text()
    try:
        report = merge_adapter(
            args.base_dir,
            args.adapter_dir,
            args.out_dir,
            chat_template=template,
            max_shard_size=args.max_shard_size or DEFAULT_MAX_SHARD_SIZE,
        )
    except LogitsMismatch as exc:
        _write_error(args.report, LOGITS_MISMATCH_CODE, str(exc))
        return 2
    except Exception as exc:
        traceback.print_exc()
        _write_error(args.report, MERGE_FAILED_CODE, f"{type(exc).__name__}: {exc}")
        return 1
    write_report(report, args.report)
    return 0


def _write_error(path: Path, code: str, message: str) -> None:
    path.write_text(json.dumps({"error": {"code": code, "message": message}}))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
