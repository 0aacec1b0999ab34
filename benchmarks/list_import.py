"""Benchmarks, list import: wall time and peak memory of ``orbweaver hashset import`` for a list of N lines.

The list is generated here: N distinct MD5 values (digests of ``"entry <i>"``) as plain lines,
with every 1000th line a CSV-looking or broken one so the bad-line path runs too (counted, not
imported). Each size is imported into a fresh SQLite store by a separate ``orbweaver`` process;
its peak RSS is the kernel's ``ru_maxrss`` for that child, its wall time includes start-up.

    python -m benchmarks.list_import                       # 1M and 10M lines
    python -m benchmarks.list_import --lines 20000 200000  # a quick run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "list_import.json"
ORBWEAVER = str(Path(sys.executable).parent / "orbweaver")


def write_list(path: Path, lines: int) -> int:
    """Write the list; return how many of its lines are bad."""
    bad = 0
    with path.open("w", encoding="utf-8") as out:
        for i in range(lines):
            if i % 1000 == 999:
                out.write("not-a-hash\n")
                bad += 1
            else:
                out.write(hashlib.md5(f"entry {i}".encode()).hexdigest() + "\n")
    return bad


def run_one(lines: int, workdir: Path, tree: Path | None = None) -> dict[str, Any]:
    """Import a fresh list of ``lines`` lines in a child process and measure it.

    With ``tree``, the ``orbweaver`` code of that source tree runs instead (an older commit
    unpacked with ``git archive``, for a before/after comparison).
    """
    command = [ORBWEAVER] if tree is None else [
        sys.executable, "-c", f"import sys; sys.path.insert(0, {str(tree)!r}); from orbweaver.cli import main; main()"]
    listing = workdir / f"list-{lines}.txt"
    bad = write_list(listing, lines)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
    env["ORBWEAVER_CORE__DATA_DIR"] = str(workdir / f"state-{lines}")
    env["ORBWEAVER_CORE__LOG_LEVEL"] = "warning"
    out_path = workdir / f"out-{lines}.json"
    started = time.monotonic()
    with out_path.open("wb") as out:
        child = subprocess.Popen(
            [*command, "hashset", "import", "--name", "bench", str(listing)],
            env=env,
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
        # wait4 gives this child's own peak RSS (RUSAGE_CHILDREN would be the largest child so far)
        _pid, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    stdout = out_path.read_bytes()
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    return {
        "code": "this tree" if tree is None else str(tree),
        "lines": lines,
        "file_bytes": listing.stat().st_size,
        "bad_lines_written": bad,
        "summary": summary,
        "wall_s": round(wall, 1),
        # CPU seconds of the child alone: on a shared, loaded machine wall time says little.
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "exit_status": child.returncode,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m benchmarks.run list_import``."""
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--tree", type=Path, default=None, help="run the orbweaver code of this source tree")
    parser.add_argument("--out", type=Path, default=RESULTS)


def run(args: argparse.Namespace) -> None:
    """Run the sizes asked for, one child each, and write ``results/list_import.json``."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="orbweaver-list-import-") as tmp:
        for lines in args.lines:
            row = run_one(lines, Path(tmp), args.tree)
            print(json.dumps(row), flush=True)
            rows.append(row)
    load = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.platform(), "cpus": os.cpu_count(),
                                   "load_average_at_end": [round(x, 1) for x in load], "runs": rows}, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    """The benchmark as its own command (``python -m benchmarks.list_import``)."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
