"""Prints how one lock's pins differ from another's: ``lock_diff.py OLD NEW``.

scripts/check-drift uses it to say which packages moved since requirements.lock was written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def pins(path: Path) -> dict[str, str]:
    """Each locked name to its version, or its versions (``a / b``) where markers split it."""
    versions: dict[str, set[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line[0] in "# ":
            continue
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        versions.setdefault(name, set()).add(str(next(iter(requirement.specifier)).version))
    return {name: " / ".join(sorted(found)) for name, found in versions.items()}


def main(old_path: str, new_path: str) -> None:
    old, new = pins(Path(old_path)), pins(Path(new_path))
    moved = [
        f"  {name}: {old[name]} -> {new[name]}"
        for name in sorted(old)
        if name in new and new[name] != old[name]
    ]
    added = [f"  {name}=={new[name]} (new)" for name in sorted(set(new) - set(old))]
    removed = [f"  {name}=={old[name]} (no longer needed)" for name in sorted(set(old) - set(new))]
    lines = moved + added + removed
    print("\n".join(lines) if lines else "  nothing moved")


if __name__ == "__main__":
    main(*sys.argv[1:3])
