"""The README's layout block: every module of ``hades_zoo/`` and ``distill/`` with its line count.

    python tools/layout.py            # print the block
    python tools/layout.py --write    # rewrite it in README.md (between the layout markers)
    python tools/layout.py --check    # exit 1 when README.md's block is not current

``tests/test_layout.py`` runs the check, so the figures in the README are the tree's own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hades_zoo", "distill")
BEGIN, END = "<!-- layout:begin (python tools/layout.py --write) -->", "<!-- layout:end -->"
WIDTH = 100
LIMIT = 400  # lines: a module over this is split (issue 14)


def line_counts(root: Path = ROOT) -> dict[str, dict[str, int]]:
    """``{"hades_zoo/hub/": {"cards.py": 190, ...}, ...}``: Python modules per folder, sorted."""
    out: dict[str, dict[str, int]] = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            folder = path.parent.relative_to(root).as_posix() + "/"
            out.setdefault(folder, {})[path.name] = len(path.read_text().splitlines())
    return dict(sorted(out.items()))


def block(root: Path = ROOT) -> str:
    """The fenced block: one paragraph per folder, ``name lines`` entries wrapped at ``WIDTH``."""
    counts = line_counts(root)
    total = sum(n for files in counts.values() for n in files.values())
    n_files = sum(len(files) for files in counts.values())
    largest = max(((n, f"{folder}{name}") for folder, files in counts.items() for name, n in files.items()))
    lines = [f"{n_files} modules, {total} lines; the largest: {largest[1]} ({largest[0]} lines)", ""]
    for folder, files in counts.items():
        lines.append(f"{folder} ({sum(files.values())} lines)")
        row = " "
        for name, n in files.items():
            entry = f" {name} {n}"
            if len(row) + len(entry) > WIDTH:
                lines.append(row)
                row = " "
            row += entry
        lines.append(row)
    return "\n".join(["```text", *lines, "```"])


def _replace(readme: str, new: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md has no layout markers ({BEGIN} ... {END})")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{new}\n{END}{tail}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite README.md's block")
    parser.add_argument("--check", action="store_true", help="exit 1 when README.md's block is not current")
    args = parser.parse_args(argv)
    readme = ROOT / "README.md"
    new = block()
    if args.write:
        readme.write_text(_replace(readme.read_text(), new))
    elif args.check:
        current = readme.read_text()
        if _replace(current, new) != current:
            print("README.md's layout block is not current: run python tools/layout.py --write", file=sys.stderr)
            return 1
    else:
        print(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
