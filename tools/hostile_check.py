"""Issue 16's acceptance, measured: each hostile CLI case as a user runs it, in a fresh process.

    python tools/hostile_check.py [--json]

Runs every row of ``tests/test_hostile.py``'s ``CLI_CASES`` (plus two run-directory cases) with
``python -m hades_zoo`` / ``python -m distill`` and reports, per case: the exit status, the
number of ``error:`` lines, whether a traceback was printed, the wall time, and the peak RSS
against the same program's ``--help`` (``os.wait4``). Acceptance: exit 2 with one ``error:`` line
(or exit 0 where the case is correct behaviour), no traceback, under 10 s of wall time beyond
``--help``, and under 300 MB of peak RSS above ``--help``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def measure(prog: str, argv: list[str]) -> dict:
    """Exit status, error lines, traceback, wall seconds and peak RSS (MB) of one CLI call."""
    env = dict(os.environ, PYTHONPATH=str(REPO), HADES_ZOO_QUIET="1")
    err = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", prog, *map(str, argv)], stdout=subprocess.DEVNULL, stderr=err,
                            env=env, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err.seek(0)
    text = err.read().decode(errors="replace")
    return {"code": os.waitstatus_to_exitcode(status), "errors": sum(ln.startswith("error:") for ln in text.splitlines()),
            "traceback": "Traceback" in text, "wall_s": round(wall, 1), "rss_mb": round(usage.ru_maxrss / 1024),
            "first": next((ln for ln in text.splitlines() if ln.startswith("error:")), "")[:110]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from test_hostile import CLI_CASES

    rows, base = [], {p: measure(p, ["--help"]) for p in ("hades_zoo", "distill")}
    with tempfile.TemporaryDirectory() as tmp:
        for name, prog, argv, _ in CLI_CASES:
            where = Path(tmp) / name.replace("*", "_")
            where.mkdir()
            rows.append({"case": name, "prog": prog, **measure(prog, argv(where))})
    for r in rows:
        b = base[r["prog"]]
        r["rss_over_help_mb"] = r["rss_mb"] - b["rss_mb"]
        r["wall_over_help_s"] = round(r["wall_s"] - b["wall_s"], 1)
        r["ok"] = (r["code"] == 2 and r["errors"] == 1 and not r["traceback"] and r["rss_over_help_mb"] < 300
                   and r["wall_over_help_s"] < 10)
    if args.json:
        print(json.dumps({"help": base, "cases": rows}, indent=1))
        return
    print(f"--help: hades_zoo {base['hades_zoo']['rss_mb']} MB {base['hades_zoo']['wall_s']} s, "
          f"distill {base['distill']['rss_mb']} MB {base['distill']['wall_s']} s")
    print(f"{'case':28} {'exit':>4} {'err':>3} {'tb':>3} {'+MB':>5} {'+s':>5}  ok  first error line")
    for r in rows:
        print(f"{r['case']:28} {r['code']:>4} {r['errors']:>3} {'yes' if r['traceback'] else 'no':>3} "
              f"{r['rss_over_help_mb']:>5} {r['wall_over_help_s']:>5}  {'ok' if r['ok'] else 'NO'}  {r['first']}")
    sys.exit(0 if all(r["ok"] for r in rows) else 1)


if __name__ == "__main__":
    main()
