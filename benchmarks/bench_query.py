"""A text query's first answer, this tree side by side with a baseline commit (whose queries went through torch):

- cold: a fresh `photosort search` process with a query never asked before, until its results are printed, and
  its peak memory; and the same query asked again (this tree answers it from the library's query cache);
- the phases of a cold search in this tree (imports, catalog, tokenizer, weights, encoding, index, search,
  output), each timed in one process in the order the command meets them;
- warm: a whole text query in a process that has everything loaded, numpy's text tower against the baseline's
  torch (bf16 where the CPU has bf16 matrix units);
- the app: from its window shown to its photos listed, then the first search, entered at once or a second
  later, to its answer.

Libraries of synthetic photos (a one-byte file each, its row and a clustered vector written through the engine's
own stores, a saved index: the app's scan at start finds every file as recorded) and a random ViT-B-32-256
checkpoint in safetensors: the recommended model's shape and format. The baseline runs from a git worktree of its
commit, on the same library files.

    python benchmarks/bench_query.py                       # 200 and 100,000 photos, 5 runs, baseline 1565b40
    python benchmarks/bench_query.py --sizes 300 --runs 1 --shape small --baseline-tree .   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_clip import SHAPES  # noqa: E402
from benchmarks.bench_library import synthetic_library, write_checkpoint  # noqa: E402
from benchmarks.bench_near import baseline_tree  # noqa: E402

BASELINE = "1565b40"  # the last commit whose searches encoded their text with torch
QUERIES = ("kids on a beach at sunset", "a dog in the snow", "receipts", "birthday cake candles",
           "mountain lake at dawn", "my passport", "red car", "grandma's garden", "wedding dance", "city at night",
           "a cat asleep on a sofa", "fireworks", "snowy forest", "sailing boat", "breakfast table")
REPEATED = "kids on a beach at sunset"
APP_TIMEOUT_MS = 120_000

# The phases of a cold search, in one process of this tree, in the order `photosort search` meets them.
PHASES = r"""
import json, sys, time
marks = [("start", time.perf_counter())]
def mark(name):
    marks.append((name, time.perf_counter()))
import photosort.cli.library as cli
from photosort.clip.text_encoder import TextEncoder
from photosort.core.library import Library
from photosort.core.search import QueryEncoder
mark("imports")
library = Library(sys.argv[1], write=False)
model = library.model
mark("catalog")
from photosort.clip.tokenizer import default_tokenizer
default_tokenizer()
mark("tokenizer")
texts = TextEncoder(model)
texts.tower()
mark("weights")
encoder = QueryEncoder(texts, lambda: None)
library.query_cache.get = lambda *args: None  # a query never asked: encoded
library.text_vector(encoder, sys.argv[2])
mark("encoding")
library.index()
mark("index")
results = library.search(encoder, sys.argv[2], k=20)
mark("search")
print(json.dumps([{"path": result.path, "score": round(result.score, 4)} for result in results]), file=sys.stderr)
library.close()
mark("output")
print(json.dumps([(name, later - earlier) for (_, earlier), (name, later) in zip(marks, marks[1:])]))
"""

# The desktop app over a library: its window shown, the library open and its photos listed in the grid; then a
# query entered (argv[5] ms after the listing: at once, or as a person who reads the window first) and answered.
APP = r"""
import json, os, sys, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from photosort.app.settings import AppSettings
from photosort.ui.app import build
app = QApplication([])
session, window = build(Path(sys.argv[1]), AppSettings(Path(sys.argv[2]) / "settings.ini"))
window.show()
app.processEvents()
shown = time.perf_counter()
times = {}
def opened(_):
    times["opened"] = time.perf_counter() - shown
def listed(rows):
    if "listed" not in times and rows:
        times["listed"] = time.perf_counter() - shown
        QTimer.singleShot(int(sys.argv[5]), enter)
def enter():
    times["entered"] = time.perf_counter() - shown
    window.search_bar.search_for(sys.argv[3])
def answered(_generation, hits):
    times["answered"] = time.perf_counter() - shown
    times["hits"] = len(hits)
    app.quit()
def failed(_generation, message):
    times["failed"] = message
    app.quit()
session.opened.connect(opened)
session.photosChanged.connect(listed)
session.searchDone.connect(answered)
session.searchFailed.connect(failed)
QTimer.singleShot(int(sys.argv[4]), app.quit)
app.exec()
window.close()
session.close()
print(json.dumps(times))
"""




# Runs a command and writes its seconds and peak memory: a small process of its own forks it, as a child forked
# from this benchmark (hundreds of MB, torch loaded) would count this process's pages among its own.
LAUNCHER = ("import os, subprocess, sys, time; started = time.perf_counter(); child = subprocess.Popen(sys.argv[2:]);"
            " _, status, usage = os.wait4(child.pid, 0); seconds = time.perf_counter() - started;"
            " open(sys.argv[1], 'w').write(f'{seconds} {usage.ru_maxrss}');"
            " sys.exit(os.waitstatus_to_exitcode(status))")


def measured(command: list[str], source: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak resident memory in MB, stdout) of a whole process run from `source` (POSIX)."""
    with tempfile.TemporaryDirectory() as scratch:
        figures_file = Path(scratch) / "figures"
        result = subprocess.run([sys.executable, "-c", LAUNCHER, str(figures_file), *command], cwd=source,
                                env=dict(env, PYTHONPATH=str(source)), capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:4])} failed: {result.stderr[-2000:]}")
        seconds, peak = figures_file.read_text().split()
    return float(seconds), int(peak) / (2**20 if sys.platform == "darwin" else 2**10), result.stdout


def figures(values: list[float], unit: str = "s", scale: float = 1.0) -> str:
    return f"{min(values) * scale:.2f} / {statistics.median(values) * scale:.2f} {unit}"


def cold_searches(library: Path, versions: dict[str, Path], runs: int, env: dict[str, str]
                  ) -> dict[str, dict[str, str]]:
    """Per version: fresh processes for new queries, then for one query asked again."""
    rows: dict[str, dict[str, str]] = {"new query": {}, "asked again": {}, "peak memory": {}}
    for name, source in versions.items():
        command = [sys.executable, "-m", "photosort", "--library", str(library), "search"]
        new = [measured([*command, f"{QUERIES[run % len(QUERIES)]} {name} {run}"], source, env) for run in range(runs)]
        measured([*command, REPEATED], source, env)  # asked once, so that what follows asks it again
        again = [measured([*command, REPEATED], source, env) for _ in range(runs)]
        rows["new query"][name] = figures([seconds for seconds, _, _ in new])
        rows["asked again"][name] = figures([seconds for seconds, _, _ in again])
        memory = [megabytes for _, megabytes, _ in new]
        rows["peak memory"][name] = f"{max(memory):.0f} MB"
        (library / "query-vectors.sqlite").unlink(missing_ok=True)  # each version starts without the cache
    return rows


def phases(library: Path, runs: int, env: dict[str, str]) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    for run in range(runs):
        _, _, out = measured([sys.executable, "-c", PHASES, str(library), f"{QUERIES[run % len(QUERIES)]} p{run}"],
                             ROOT, env)
        for name, seconds in json.loads(out):
            found.setdefault(name, []).append(seconds)
    return found


# A whole text query (encoding, search, catalog) in a process that has everything loaded: each version's own
# search encoder (this tree: the numpy text tower; the baseline: torch, bf16 where the CPU has bf16 units). Every
# query is new to the library: its memory and disk caches of query vectors are passed by. Prints seconds.
WARM = r"""
import json, sys, time
import photosort.cli.library as cli
from photosort.core.library import Library
queries, repeats = json.loads(sys.argv[2]), int(sys.argv[3])
with Library(sys.argv[1], write=False) as library:
    make = getattr(cli, "query_encoder", None) or cli.load_encoder
    encoder = make(library.model)
    if hasattr(library, "query_cache"):
        library.query_cache.get = lambda *args: None
    library.search(encoder, "warm up")
    times = []
    for repeat in range(repeats):
        for query in queries:
            library._search._texts.clear()
            started = time.perf_counter()
            library.search(encoder, f"{query} {repeat}", k=20)
            times.append(time.perf_counter() - started)
print(json.dumps(times))
"""


def warm_latency(library: Path, versions: dict[str, Path], env: dict[str, str], repeats: int = 3
                 ) -> dict[str, list[float]]:
    return {name: json.loads(measured([sys.executable, "-c", WARM, str(library), json.dumps(QUERIES), str(repeats)],
                                      source, env)[2])
            for name, source in versions.items()}


TYPING_DELAY_MS = 1000  # a person who looks at the window before typing


def app_first_search(library: Path, versions: dict[str, Path], runs: int, env: dict[str, str], work: Path
                     ) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {"photos listed": {}, "first search, at once": {},
                                       f"first search, {TYPING_DELAY_MS / 1000:.0f} s later": {}, "results": {}}
    app_env = dict(env, QT_QPA_PLATFORM="offscreen")
    for name, source in versions.items():
        listed: list[float] = []
        answered: dict[int, list[float]] = {0: [], TYPING_DELAY_MS: []}
        hits = []
        for run in range(runs):
            for delay in answered:
                settings = work / f"app-{name}-{run}-{delay}"
                settings.mkdir(parents=True, exist_ok=True)
                query = f"{QUERIES[run % len(QUERIES)]} app {run} {delay}"
                _, _, out = measured([sys.executable, "-c", APP, str(library), str(settings), query,
                                      str(APP_TIMEOUT_MS), str(delay)], source, app_env)
                times = json.loads(out.strip().splitlines()[-1])
                if "answered" not in times:
                    raise RuntimeError(f"{name}: the app's search did not answer: {times}")
                listed.append(times["listed"])
                answered[delay].append(times["answered"] - times["entered"])
                hits.append(times["hits"])
        rows["photos listed"][name] = figures(listed)
        rows["first search, at once"][name] = figures(answered[0])
        rows[f"first search, {TYPING_DELAY_MS / 1000:.0f} s later"][name] = figures(answered[TYPING_DELAY_MS])
        rows["results"][name] = f"{min(hits)}-{max(hits)}"  # the whole first page: a check that it searched
        (library / "query-vectors.sqlite").unlink(missing_ok=True)
    return rows


def table(title: str, rows: dict[str, dict[str, str]], versions: list[str]) -> None:
    print(f"\n{title}")
    print(f"{'':24}" + "".join(f"{version:>26}" for version in versions))
    for what, by_version in rows.items():
        print(f"{what:24}" + "".join(f"{by_version.get(version, '-'):>26}" for version in versions))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 100_000])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes for each figure (min / median)")
    parser.add_argument("--shape", choices=list(SHAPES), default="ViT-B-32-256")
    parser.add_argument("--baseline", default=BASELINE, help="commit to compare with (default: %(default)s)")
    parser.add_argument("--baseline-tree", type=Path,
                        help="a photosort source tree to compare with, instead of a worktree of the baseline commit")
    parser.add_argument("--no-app", action="store_true", help="leave out the app's first search")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-query-"))
    try:
        baseline = args.baseline_tree.resolve() if args.baseline_tree else \
            baseline_tree(args.baseline, work / "baseline")
        versions = {f"baseline {args.baseline_tree or args.baseline}": baseline, "this tree": ROOT}
        env = {name: value for name, value in os.environ.items() if not name.startswith(("PYTHON", "PHOTOSORT_"))}
        env["PHOTOSORT_DATA_DIR"] = str(work / "data")
        model = work / "random.safetensors"
        write_checkpoint(model, args.shape)
        print(f"model: a random {args.shape} in safetensors; {os.cpu_count()} cores; min / median of {args.runs} runs;"
              " the files in the page cache (a search right after another)")
        for size in args.sizes:
            library = work / f"library-{size}"
            started = time.perf_counter()
            synthetic_library(library, work / f"photos-{size}", str(model), size, SHAPES[args.shape]["embed_dim"],
                              with_files=True)
            print(f"\n=== {size:,} photos (built in {time.perf_counter() - started:.0f} s)")
            table("a fresh `photosort search` process, until its results are printed",
                  cold_searches(library, versions, args.runs, env), list(versions))
            found = phases(library, args.runs, env)
            print("\nphases of a new query's cold search in this tree (min / median):")
            for name, seconds in found.items():
                print(f"  {name:12}{figures(seconds, 'ms', 1000):>22}")
            total = [sum(values) for values in zip(*found.values(), strict=True)]
            print(f"  {'total':12}{figures(total, 'ms', 1000):>22}  (Python's own start is not in it)")
            warm = warm_latency(library, versions, env)
            print("\na whole text query in a warm process (encode, search, catalog), each query new:")
            for name, times in warm.items():
                print(f"  {name:26} median {1000 * statistics.median(times):6.1f} ms, "
                      f"p95 {1000 * float(np.percentile(times, 95)):6.1f} ms")
            if not args.no_app:
                table("the app: its photos listed (seconds from its window shown), then a first query entered at "
                      "once or a second later, until answered (seconds)",
                      app_first_search(library, versions, args.runs, env, work), list(versions))
            shutil.rmtree(library)
            shutil.rmtree(work / f"photos-{size}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.baseline_tree:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
