"""``python -m benchmarks [NAME ...] [--quick] [--out DIR]``: every benchmark, side by side.

``python -m benchmarks gpu [--toy] ...`` is the separate, time-boxed accelerator check
(``benchmarks/gpu_check.py``): it never runs as part of "all".

Writes ``results.json``, ``results.md`` (the table for the README) and PNG plots into
``--out`` and prints each figure and ratio as it is measured. ``--quick`` shrinks every
benchmark to a smoke run (CI): it checks that each runs and writes its files, and its
figures mean nothing.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from pathlib import Path

from benchmarks import cold_start, distill_throughput, neuroevolution, time_to_agent
from benchmarks.common import hardware, write_outputs

BENCHMARKS = {
    "time-to-agent": time_to_agent.run,
    "neuroevolution": neuroevolution.run,
    "throughput": distill_throughput.run,
    "cold-start": cold_start.run,
}


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["gpu"]:
        from benchmarks import gpu_check

        sys.exit(gpu_check.main(argv[1:]))
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    ap.add_argument("--quick", action="store_true", help="smoke mode: seconds per benchmark, figures meaningless")
    ap.add_argument("--out", type=Path, default=Path("benchmark-results"), help="output folder (default: %(default)s)")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)} "
                 "(and `gpu`, the accelerator check, on its own)")
    names = args.names or list(BENCHMARKS)
    command = "python -m benchmarks " + " ".join(shlex.quote(a) for a in argv)
    info = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "quick": args.quick, **hardware()}
    accel = info["accelerator"] or "none"
    print(f"{info['date']}  {info['cpu']}, {info['cores']} cores, accelerator: {accel}", flush=True)
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in names:
        print(f"== {name}{' (quick)' if args.quick else ''}", flush=True)
        t0 = time.perf_counter()
        result = BENCHMARKS[name](args.quick, args.out)
        result.notes.append(f"benchmark wall time {time.perf_counter() - t0:.0f} s.")
        results.append(result)
        write_outputs(args.out, results, info, command)  # partial results survive a later failure
    print(f"wrote {args.out / 'results.json'}, {args.out / 'results.md'} and "
          f"{sum(len(r.plots) for r in results)} plot(s)")


if __name__ == "__main__":
    main()
