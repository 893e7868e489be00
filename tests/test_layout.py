"""The README's layout block is the tree's own (``tools/layout.py``), and no module grows past ~400 lines."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("layout", ROOT / "tools" / "layout.py")
layout = importlib.util.module_from_spec(spec)
spec.loader.exec_module(layout)


def test_readme_layout_block_is_current():
    assert layout.main(["--check"]) == 0, "run python tools/layout.py --write"


def test_no_module_over_the_limit():
    over = [f"{folder}{name} ({n} lines)" for folder, files in layout.line_counts().items()
            for name, n in files.items() if n > layout.LIMIT]
    assert not over, f"split these modules (one concept each): {over}"
