"""Indexing real photos on the CPU: `photosort index` (whole process) against the naive openai/CLIP loop.

Both use the same random ViT-B/32 checkpoint file (or another shape of benchmarks/bench_clip.py). The naive
loop is what a script built on openai/CLIP does: open each photo, decode it fully, preprocess it exactly, encode
batches of 16 with openai's model.py. The model-only ceiling (encoding already preprocessed batches, nothing
else) is printed next to them, and the fast decode (JPEG DCT scaling) is checked against the exact path: PSNR
of the preprocessed tensors.

Photos: large real photographs from Debian's wallpaper packages (fetch them with
benchmarks/fetch_wallpapers.sh), or any folder:

    python benchmarks/bench_index.py --photos /tmp/wallpapers
    python benchmarks/bench_index.py --photos FOLDER --shape small --repeats 1   # a quick run
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import photosort.clip as clip  # noqa: E402
from benchmarks.bench_clip import SHAPES  # noqa: E402
from photosort.clip.loader import cpu_has_fast_bfloat16  # noqa: E402
from photosort.clip.preprocess import MEAN, STD  # noqa: E402
from photosort.core.decode import decode  # noqa: E402
from photosort.core.names import is_image_name  # noqa: E402
from tests import reference  # noqa: E402

NAIVE_BATCH = 16


def photos_in(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file() and is_image_name(path.name))


def naive_index(photos_folder: Path, checkpoint: Path) -> float:
    """Seconds for the openai/CLIP loop, as a whole process (interpreter, imports, model load), like ours."""
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--naive-worker", str(checkpoint), "--photos", str(photos_folder)],
                   check=True)
    return time.perf_counter() - started


def naive_worker(photos: list[Path], checkpoint: Path) -> None:
    state_dict = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = reference.model_module().build_model(state_dict).float().eval()
    preprocess = clip.Preprocess(model.visual.input_resolution)
    with torch.no_grad():
        for start in range(0, len(photos), NAIVE_BATCH):
            batch = [preprocess(Image.open(path)) for path in photos[start:start + NAIVE_BATCH]]
            model.encode_image(torch.stack(batch))


def photosort_index(photos_folder: Path, checkpoint: Path) -> float:
    with tempfile.TemporaryDirectory() as library:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "photosort", "--library", library, "index", str(photos_folder),
                        "--model", str(checkpoint), "--device", "cpu"], check=True,
                       stderr=subprocess.DEVNULL)
        return time.perf_counter() - started


def model_ceiling(checkpoint: Path, count: int, bfloat16: bool) -> float:
    """Seconds to encode `count` preprocessed images at batch 32, nothing else."""
    encoder = clip.Encoder.load(checkpoint, "cpu")
    encoder.cpu_bfloat16 = bfloat16
    pictures = np.random.default_rng(0).standard_normal((32, 3, encoder.resolution, encoder.resolution),
                                                        dtype=np.float32)
    encoder.encode_pictures(pictures[:4])
    started = time.perf_counter()
    for start in range(0, count, 32):
        encoder.encode_pictures(pictures[: min(32, count - start)])
    return time.perf_counter() - started


def fidelity(photos: list[Path], resolution: int) -> list[float]:
    """PSNR (dB) of the fast decode's preprocessed tensor against the exact path's, per photo."""
    exact_preprocess = clip.Preprocess(resolution)
    scores = []
    for path in photos:
        exact = exact_preprocess(ImageOps.exif_transpose(Image.open(path))).numpy()  # [3, R, R]
        fast = decode(path, resolution, 0.0).pixels
        to_unit = lambda pixels: pixels * STD[:, None, None] + MEAN[:, None, None]  # noqa: E731
        error = float(np.mean((to_unit(fast) - to_unit(exact)) ** 2))
        scores.append(math.inf if error == 0 else 10 * math.log10(1.0 / error))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--shape", choices=list(SHAPES), default="ViT-B/32")
    parser.add_argument("--naive-worker", type=Path, metavar="CHECKPOINT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    photos = photos_in(args.photos)
    if args.naive_worker:
        naive_worker(photos, args.naive_worker)
        return
    megapixels = sum(Image.open(path).size[0] * Image.open(path).size[1] for path in photos) / len(photos) / 1e6
    print(f"{len(photos)} photos, {megapixels:.1f} MP on average, {sum(p.stat().st_size for p in photos) / 1e6:.0f} MB;"
          f" {torch.get_num_threads()} threads, {os.cpu_count()} cores")

    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "random.pt"
        torch.save(reference.random_state_dict(SHAPES[args.shape], seed=0), checkpoint)
        naive, ours = [], []
        for _ in range(args.repeats):  # alternate, so a change in machine load hits both alike
            naive.append(naive_index(args.photos, checkpoint))
            ours.append(photosort_index(args.photos, checkpoint))
        ceiling = model_ceiling(checkpoint, len(photos), False)
        ceiling_bf16 = model_ceiling(checkpoint, len(photos), True) if cpu_has_fast_bfloat16() else None
    rate = lambda seconds: len(photos) / seconds  # noqa: E731
    print(f"naive openai/CLIP loop   {min(naive):6.1f} s  {rate(min(naive)):5.2f} photos/s")
    print(f"photosort index          {min(ours):6.1f} s  {rate(min(ours)):5.2f} photos/s  "
          f"({min(naive) / min(ours):.2f}x faster)")
    print(f"model only, fp32         {ceiling:6.1f} s  {rate(ceiling):5.2f} photos/s  (ceiling of any fp32 loop)")
    if ceiling_bf16:
        print(f"model only, bf16         {ceiling_bf16:6.1f} s  {rate(ceiling_bf16):5.2f} photos/s  "
              f"(what photosort runs on this CPU)")
    scores = fidelity(photos, 224)
    print(f"fast decode vs exact: PSNR min {min(scores):.1f} dB, median {float(np.median(scores)):.1f} dB")


if __name__ == "__main__":
    main()
