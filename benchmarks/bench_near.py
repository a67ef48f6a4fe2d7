"""Are near duplicates copies of one picture? Pair precision and recall of the exact + near tiers, per class of
hard negatives and positives (tests/near_cases.py), this tree side by side with a baseline commit.

Both versions index the same folder with the bundled tiny model and run `photosort dupes --json`, as a user
would; the baseline runs from a git worktree of its commit. A pair is "found" when both files share an exact or
near cluster. For hard negatives (different pictures) every found pair is a mistake that `--trash` would act
on; for positives (copies of one picture) every pair should be found. The last table says where the pairs the
baseline wrongly called near went: into a similar cluster (offered, never trashed by default) or nowhere.

When benchmarks/fetch_wallpapers.sh has filled /tmp/wallpapers (or --wallpapers), colour edits and copies of
two of those photographs join the set.

    python benchmarks/bench_near.py [--baseline 3f2ac1e]
    python benchmarks/bench_near.py --baseline-tree .   # this tree against itself: a quick check that it runs
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import near_cases  # noqa: E402
from tests.real_photos import photographs  # noqa: E402

BASELINE = "3f2ac1e"  # the last commit before issue 13
WALLPAPERS = Path("/tmp/wallpapers")


def cases(wallpapers: Path) -> list[near_cases.Case]:
    found = near_cases.all_cases()
    for path in sorted(wallpapers.glob("*.jpg"))[:40]:
        with Image.open(path) as image:
            image.draft("RGB", (1024, 1024))
            picture = image.convert("RGB")
        picture.thumbnail((900, 900))
        if near_cases.colourful(picture) and sum(case.group == "copies-wallpapers" for case in found) < 30:
            name = f"wall-{path.stem[:3]}"
            found += [case for case in near_cases.colour_edits(name, picture)]
            found += near_cases.copies(picture, f"copy-{name}", "copies-wallpapers", name)
    return found


def run_version(source: Path, photos: Path, library: Path) -> tuple[list[dict], float]:
    """Index `photos` and find duplicates with the photosort in `source`; (clusters, seconds of dupes)."""
    shutil.rmtree(library, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(source))
    # The demo model moved into the package (photosort/models/); a baseline checkout may keep it at the top.
    model = next(folder / "tiny-shapes.pt" for folder in (source / "photosort" / "models", source / "models")
                 if (folder / "tiny-shapes.pt").is_file())
    base = [sys.executable, "-m", "photosort", "--library", str(library)]
    subprocess.run([*base, "index", str(photos), "--model", str(model)], cwd=source, env=env, check=True,
                   capture_output=True)
    started = time.perf_counter()
    result = subprocess.run([*base, "dupes", "--json"], cwd=source, env=env, check=True, capture_output=True,
                            text=True)
    return json.loads(result.stdout)["clusters"], time.perf_counter() - started


def baseline_tree(commit: str, where: Path) -> Path:
    if not (where / "photosort").is_dir():
        shutil.rmtree(where, ignore_errors=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(where), commit],
                       check=True, capture_output=True)
    return where


def together(clusters: list[dict], kinds: tuple[str, ...]) -> set[frozenset[str]]:
    return {frozenset(pair) for cluster in clusters if cluster["kind"] in kinds
            for pair in itertools.combinations(cluster["members"], 2)}


def table(truth: dict[str, near_cases.Case], found: dict[str, set[frozenset[str]]]) -> None:
    """Per class: positives found (recall) and negatives joined, for each version."""
    rows: dict[str, dict[str, list[int]]] = {}
    for a, b in itertools.combinations(sorted(truth), 2):
        first, second = truth[a], truth[b]
        same = first.picture == second.picture
        if same:
            group = first.group if first.group == second.group else "copies, across classes"
        elif first.group == second.group and not first.group.startswith("copies"):
            group = first.group  # a class of hard negatives: every pair is two pictures
        else:
            continue  # two unrelated pictures: counted in the precision below
        for version, pairs in found.items():
            counts = rows.setdefault(group, {}).setdefault(version, [0, 0])
            counts[0] += 1
            counts[1] += frozenset((a, b)) in pairs
    versions = list(found)
    print(f"{'class':26}{'pairs':>7}" + "".join(f"{version:>22}" for version in versions))
    totals = {version: [0, 0, 0, 0] for version in versions}  # positives, found; negatives, joined
    for group, by_version in sorted(rows.items()):
        positive = group.startswith("copies")
        pairs = next(iter(by_version.values()))[0]
        cells = []
        for version in versions:
            count, hit = by_version[version]
            totals[version][0 if positive else 2] += count
            totals[version][1 if positive else 3] += hit
            cells.append(f"recall {hit / count:.3f}" if positive else f"{hit} joined")
        print(f"{group:26}{pairs:7}" + "".join(f"{cell:>22}" for cell in cells))
    print()
    for version, (positives, hits, negatives, joined) in totals.items():
        wrong_all = sum(1 for pair in found[version] if _different(truth, pair))
        right_all = len(found[version]) - wrong_all
        precision = right_all / len(found[version]) if found[version] else 1.0
        print(f"{version:10} recall of copies {hits / positives:.3f} ({hits}/{positives})   "
              f"hard-negative pairs joined {joined} of {negatives}   pair precision {precision:.4f}")


def _different(truth: dict[str, near_cases.Case], pair: frozenset[str]) -> bool:
    a, b = tuple(pair)
    return a in truth and b in truth and truth[a].picture != truth[b].picture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="commit to compare with (default: %(default)s)")
    parser.add_argument("--baseline-tree", type=Path,
                        help="a photosort source tree to compare with, instead of a worktree of the baseline commit")
    parser.add_argument("--work", type=Path, default=Path("/tmp/photosort-bench-near"))
    parser.add_argument("--wallpapers", type=Path, default=WALLPAPERS)
    args = parser.parse_args()
    photos = args.work / "photos"
    shutil.rmtree(photos, ignore_errors=True)
    truth = near_cases.write(cases(args.wallpapers), photos)
    print(f"{len(truth)} files, {len({case.picture for case in truth.values()})} pictures, "
          f"{len(photographs())} source photographs{' + wallpapers' if args.wallpapers.is_dir() else ''}")
    baseline_source = args.baseline_tree.resolve() if args.baseline_tree else \
        baseline_tree(args.baseline, args.work / "baseline")
    versions = {f"baseline {args.baseline_tree or args.baseline}": baseline_source, "this tree": ROOT}
    clusters, seconds = {}, {}
    runs = {}  # source tree -> its outcome: a tree compared with itself runs once
    for version, source in versions.items():
        if source not in runs:
            runs[source] = run_version(source, photos, args.work / f"library-{len(runs)}")
        clusters[version], seconds[version] = runs[source]
    found = {version: together(found_clusters, ("exact", "near")) for version, found_clusters in clusters.items()}
    table(truth, found)
    baseline, current = versions
    near_now = found[current]
    # A similar cluster lists a near or exact cluster by its keeper: a photo is offered through its keeper.
    unit = {member: cluster["keep"] for cluster in clusters[current] if cluster["kind"] != "similar"
            for member in cluster["members"]}
    offered = together(clusters[current], ("similar",))
    similar_now = {pair for pair in map(frozenset, itertools.combinations(sorted(truth), 2))
                   if frozenset(unit.get(path, path) for path in pair) in offered}
    wrong = [pair for pair in found[baseline] if _different(truth, pair)]
    print(f"\nwhere the {len(wrong)} pairs of different pictures the baseline called exact/near went:")
    print(f"{'class':26}{'pairs':>7}{'similar':>9}{'near':>6}{'apart':>7}")
    by_class: dict[str, list[frozenset[str]]] = {}
    for pair in wrong:
        a, b = sorted(pair)
        by_class.setdefault(truth[a].group if truth[a].group == truth[b].group else "across classes", []).append(pair)
    for group, pairs in sorted(by_class.items()):
        similar, near = sum(pair in similar_now for pair in pairs), sum(pair in near_now for pair in pairs)
        print(f"{group:26}{len(pairs):7}{similar:9}{near:6}{len(pairs) - similar - near:7}")
    print("seconds of `dupes`: " + "   ".join(f"{version} {value:.1f}" for version, value in seconds.items()))


if __name__ == "__main__":
    main()
