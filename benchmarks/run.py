"""Benchmarks, outside the pipeline: one command runs each benchmark by name.

    python -m benchmarks.run                        # every benchmark, default options
    python -m benchmarks.run throughput [options]   # one; see --help of each benchmark
    python -m benchmarks.run matching [options]
    python -m benchmarks.run robustness [options]
    python -m benchmarks.run crawl [options]
    python -m benchmarks.run pipeline [options]
    python -m benchmarks.run list_import [options]
    python -m benchmarks.run list_scale [options]

A benchmark module offers ``add_arguments(parser)`` and ``run(args)``; registering one is a line
in ``BENCHMARKS``.
"""

from __future__ import annotations

import argparse
from types import ModuleType

from benchmarks import crawl, list_import, list_scale, matching, pipeline, robustness, throughput

BENCHMARKS: dict[str, ModuleType] = {
    "throughput": throughput,
    "matching": matching,
    "robustness": robustness,
    "crawl": crawl,
    "pipeline": pipeline,
    "list_import": list_import,
    "list_scale": list_scale,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="benchmark")
    for name, module in BENCHMARKS.items():
        sub = commands.add_parser(name, help=(module.__doc__ or name).splitlines()[0])
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    if args.benchmark is not None:
        args.run(args)
        return
    # No benchmark named: run them all, each with its defaults.
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        one = parser.parse_args([name])
        one.run(one)


if __name__ == "__main__":
    main()
