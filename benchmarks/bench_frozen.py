"""The installed app against a source run, whole processes as a person starts them:

- `photosort --help`;
- the first search: a fresh `photosort search` on a library of tiny-world photos (the bundled model);
- the window shown: from starting the desktop app to its window on screen (Xvfb and xdotool needed);

and the bundle's and archive's sizes. Each time is the min and median of several runs (the OS's file cache
warm after the first).

    python benchmarks/bench_frozen.py                      # after `make package`
    python benchmarks/bench_frozen.py --photos 20 --runs 1  # a quick run
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from installer.build import folder_size  # noqa: E402
from tests.frozen_helpers import APP, BUNDLE, CLI, bundle_built  # noqa: E402
from tests.library_helpers import tiny_world  # noqa: E402

WINDOW_POLL_S = 0.02
WINDOW_TIMEOUT_S = 120


def seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


def window_shown(command: list[str], env: dict[str, str]) -> float:
    """Seconds from starting the app until a visible window named photosort exists."""
    started = time.perf_counter()
    app = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while time.perf_counter() - started < WINDOW_TIMEOUT_S:
            found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^photosort$"], env=env,
                                   capture_output=True)
            if found.returncode == 0:
                return time.perf_counter() - started
            if app.poll() is not None:
                raise RuntimeError(f"the app ended ({app.returncode}) before showing its window, saying: "
                                   f"{app.communicate()[1][-2000:]}")
            time.sleep(WINDOW_POLL_S)
        raise RuntimeError("no window within the time allowed")
    finally:
        if app.poll() is None:
            app.send_signal(signal.SIGTERM)
            app.communicate(timeout=60)


def start_screen() -> tuple[subprocess.Popen, str] | None:
    """A virtual X screen on a display number nobody uses: (server, DISPLAY), or None if none started."""
    read, write = os.pipe()
    # -noreset: by default the server resets when its last client leaves (each xdotool call), and a program
    # connecting during the reset is refused ("could not connect to display").
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1600x1000x24", "-nolisten", "tcp",
                               "-noreset"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    os.close(write)
    with os.fdopen(read) as announced:
        number = announced.readline().strip()  # written once the server accepts connections
    if not number.isdigit():
        server.kill()
        print(f"no virtual screen (Xvfb: {server.communicate()[1].strip()[-300:]}): window figures skipped")
        return None
    return server, f":{number}"


def figures(times: list[float]) -> str:
    return f"{min(times):6.2f} / {statistics.median(times):6.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-frozen-"))
    try:
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("PYTHON", "PHOTOSORT_", "QT_QPA_"))}  # a real (virtual) screen below
        env["PHOTOSORT_DATA_DIR"] = str(work / "data")
        programs = {"source": [sys.executable, "-m", "photosort"]}
        if bundle_built():
            programs["frozen"] = [str(CLI)]
        else:
            print(f"no bundle at {BUNDLE} (make package): source figures only")
        library = work / "library"
        tiny_world(work / "photos", per_kind=max(1, args.photos // 32))
        subprocess.run([*programs["source"], "--library", str(library), "index", str(work / "photos"), "--model",
                        "tiny-shapes"], env=dict(env, PYTHONPATH=str(ROOT)), check=True, capture_output=True)
        rows: dict[str, dict[str, str]] = {"--help": {}, "first search": {}, "window shown": {}}
        screen = start_screen() if shutil.which("Xvfb") and shutil.which("xdotool") else None
        if screen is not None:
            env["DISPLAY"] = screen[1]
        source_env = dict(env, PYTHONPATH=str(ROOT))
        try:
            for name, base in programs.items():
                program_env = source_env if name == "source" else env
                rows["--help"][name] = figures([seconds([*base, "--help"], program_env) for _ in range(args.runs)])
                search = [*base, "--library", str(library), "search", "red circles", "-k", "5"]
                rows["first search"][name] = figures([seconds(search, program_env) for _ in range(args.runs)])
                if screen is not None:
                    app = [str(APP)] if name == "frozen" else base
                    shown = [window_shown([*app, "--library", str(library)], program_env) for _ in range(args.runs)]
                    rows["window shown"][name] = figures(shown)
        finally:
            if screen is not None:
                screen[0].terminate()
                screen[0].wait()
        print(f"\n{args.photos} photos, {args.runs} runs each: min / median")
        print(f"{'':14}{'source':>20}{'frozen':>20}")
        for what, by_program in rows.items():
            if by_program:
                print(f"{what:14}{by_program.get('source', '-'):>20}{by_program.get('frozen', '-'):>20}")
        if bundle_built():
            print(f"bundle {BUNDLE}: {folder_size(BUNDLE) / 1e6:,.0f} MB")
            for archive in sorted(BUNDLE.parent.glob("photosort-*")):
                print(f"archive {archive.name}: {archive.stat().st_size / 1e6:,.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
