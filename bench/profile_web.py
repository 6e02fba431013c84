"""Where an uncached page's server time goes: py-spy on a real server under load.

    .venv/bin/pip install py-spy        # a profiling tool, not a dependency
    .venv/bin/python bench/profile_web.py --duration 10
    .venv/bin/python bench/profile_web.py --viewer logged-in --target /

Starts ``paperwire serve`` (one process, page cache off, no background jobs) on the bench home of
``bench_web.py`` (80k corpus), loads one target at a time with ``wrk`` (50
connections) and samples the server with ``py-spy record`` meanwhile.  Prints,
per target, the requests/s and the share of samples in which each of the
heaviest functions is on the stack (inclusive) or running itself (self), with
the samples grouped into a few buckets: SQL (SQLAlchemy and the driver),
templates (Jinja), search, HTTP stack (uvicorn, Starlette, FastAPI), other.
Collapsed stacks are written to ``bench/out/profile-*.txt`` for flame graphs.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import bench_web  # noqa: E402

from paperwire.web.devserver import ServerProcess  # noqa: E402

OUT = ROOT / "bench" / "out"
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
BUCKETS = [
    ("SQL (SQLAlchemy, sqlite3/psycopg)", ("sqlalchemy/", "sqlite3", "psycopg")),
    ("templates (Jinja2)", ("jinja2/", "<template>", "templates/")),
    ("search", ("paperwire/search/", "tantivy", "usearch", "onnxruntime")),
    ("HTTP stack (uvicorn, Starlette, FastAPI)", ("uvicorn/", "starlette/", "fastapi/", "h11")),
]


def _frames(stack: str) -> list[tuple[str, str]]:
    frames = []
    for raw in stack.split(";"):
        match = FRAME.match(raw.strip())
        if match:
            frames.append((match["func"], match["file"]))
        else:
            frames.append((raw.strip(), ""))
    return frames


def summarise(raw: str, top: int) -> dict:
    """Inclusive and self shares per function, and the bucket of each sample's leaf."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    buckets: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = _frames(stack)
        if not frames:
            continue
        total += n
        names = [f"{func} ({_short(file)})" for func, file in frames]
        for name in set(names):
            inclusive[name] += n
        own[names[-1]] += n
        buckets[_bucket(frames)] += n
    total = max(total, 1)
    return {
        "samples": total,
        "buckets": {k: v / total for k, v in buckets.most_common()},
        "inclusive": [(k, v / total) for k, v in inclusive.most_common(top)],
        "self": [(k, v / total) for k, v in own.most_common(top)],
    }


def _short(file: str) -> str:
    for marker in ("site-packages/", "paperwire/"):
        if marker in file:
            return ("paperwire/" if marker == "paperwire/" else "") + file.split(marker, 1)[1]
    return file


def _bucket(frames: list[tuple[str, str]]) -> str:
    """The innermost bucket a sample is in (a query called from a template counts as SQL)."""
    for func, file in reversed(frames):
        where = f"{file} {func}"
        for name, needles in BUCKETS:
            if any(n in where for n in needles):
                return name
    return "other (our code, Python)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=ROOT / ".cache" / "bench-web" / "home")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--viewer", choices=bench_web.VIEWERS, default="anonymous")
    parser.add_argument("--target", action="append", help="a path (default: the four pages)")
    parser.add_argument("--python-load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cached", action="store_true", help="leave the page cache on")
    parser.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every running thread, not only the one holding the GIL (shows the "
        "time SQLite spends with the GIL released)",
    )
    args = parser.parse_args()
    spy_bin = shutil.which("py-spy") or shutil.which(
        "py-spy", path=str(Path(sys.executable).parent)
    )
    if not spy_bin:
        sys.exit("py-spy not found: .venv/bin/pip install py-spy")
    OUT.mkdir(parents=True, exist_ok=True)
    bench_web.prepare(args.home)
    viewer = bench_web.make_viewer(args.home)
    cookie = f"paperwire_session={viewer['token']}" if args.viewer == "logged-in" else None
    env = {}
    if not args.cached:
        config = OUT / "no-page-cache.toml"
        config.write_text("page_cache_seconds = 0\n")
        env["PAPERWIRE_CONFIG"] = str(config)
    print(
        f"profile_web: {args.viewer}, page cache {'on' if args.cached else 'off'}, "
        f"{args.connections} connections, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    with ServerProcess(args.home, env=env, workers=args.workers, jobs=False) as server:
        urls = bench_web.targets(server.url, viewer)
        paths = args.target or [p for n, p in urls.items() if not p.startswith("/static/")]
        for path in paths:
            bench_web.load(server.url + path, argparse.Namespace(**{**vars(args), "duration": 2}))
            out = (
                OUT / f"profile-{re.sub(r'[^a-z0-9]+', '-', path.lower()).strip('-') or 'home'}.txt"
            )
            spy = subprocess.Popen(
                [
                    spy_bin,
                    "record",
                    "--nonblocking",
                    *([] if args.all_threads else ["--gil"]),
                    "--pid",
                    str(server.proc.pid),
                    "--rate",
                    str(args.rate),
                ]
                + ["--duration", str(round(args.duration)), "--format", "raw", "-o", str(out)]
                + (["--subprocesses"] if args.workers > 1 else []),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            result = bench_web.load(server.url + path, args, cookie)
            spy.wait(timeout=args.duration + 60)
            summary = summarise(out.read_text(), args.top)
            print(f"\n{path}: {result['rps']:.0f} req/s, {summary['samples']} samples", flush=True)
            for name, share in summary["buckets"].items():
                print(f"  {share:6.1%}  {name}")
            print("  inclusive:")
            for name, share in summary["inclusive"]:
                print(f"    {share:6.1%}  {name}")
            print("  self:")
            for name, share in summary["self"]:
                print(f"    {share:6.1%}  {name}")


if __name__ == "__main__":
    main()
