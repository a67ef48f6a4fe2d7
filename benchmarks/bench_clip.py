"""Our CLIP engine against openai/CLIP's model.py on the same random weights, side by side.

Prints the latency of a short text query, image throughput at batch 1 and 32 (256 on a GPU), and the
machine's matmul limit as a ceiling for image throughput. The two models run alternately, so a change in
machine load hits both alike.

    python benchmarks/bench_clip.py                       # ViT-B/32 on the CPU, fp32
    python benchmarks/bench_clip.py --device cuda --shape ViT-L/14 --batches 1 256   # fp16 on a GPU
    python benchmarks/bench_clip.py --shape small --batches 1 2 --repeats 1          # a quick run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import photosort.clip as clip  # noqa: E402
from photosort.clip.build import convert_to_half  # noqa: E402
from photosort.clip.model import MLP_RATIO, ClipConfig  # noqa: E402
from tests import reference  # noqa: E402

SHAPES = {
    "ViT-B/32": reference.VIT_B_32,
    "ViT-B-32-256": dict(reference.VIT_B_32, image_resolution=256),  # the recommended model's shape
    "ViT-L/14": dict(embed_dim=768, image_resolution=224, vision_layers=24, vision_width=1024, vision_patch_size=14,
                     context_length=77, vocab_size=49408, transformer_width=768, transformer_heads=12,
                     transformer_layers=12),
    "small": reference.SMALL_VIT,  # seconds instead of minutes: a check that a benchmark runs, its figures aside
}
QUERY = "kids on a beach at sunset"  # 7 tokens with its start and end: a typical search
MATMUL_SIZE = 2048


def vit_image_flops(config: ClipConfig) -> float:
    """Multiply-adds x 2 of one image through a ViT tower: patch embedding, blocks, projection."""
    vision = config.vision
    grid = vision.resolution // vision.patch_size
    tokens, width = grid * grid + 1, vision.width
    patch = grid * grid * 3 * vision.patch_size ** 2 * width
    per_block = tokens * (4 * width * width + 2 * MLP_RATIO * width * width) + 2 * tokens * tokens * width
    return 2.0 * (patch + vision.layers * per_block + width * config.embed_dim)


def matmul_flops_per_second(device: torch.device, dtype: torch.dtype, shapes: list[tuple[int, int, int]],
                            repeats: int = 10) -> float:
    """The best rate of plain matrix products: a square one and the model's own widest (its MLP's)."""
    best = 0.0
    for rows, inner, columns in shapes:
        a = torch.randn(rows, inner, device=device, dtype=dtype)
        b = torch.randn(inner, columns, device=device, dtype=dtype)
        seconds = min(_timed(lambda a=a, b=b: a @ b, device) for _ in range(repeats))
        best = max(best, 2.0 * rows * inner * columns / seconds)
    return best


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(function, device: torch.device) -> float:
    _synchronize(device)
    start = time.perf_counter()
    function()
    _synchronize(device)
    return time.perf_counter() - start


def alternate(functions: dict, repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds of each function, run in turn `repeats` times after one warm-up each."""
    for function in functions.values():
        function()
    timings: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            timings[name].append(_timed(function, device))
    return {name: statistics.median(values) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=list(SHAPES), default="ViT-B/32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    half = device.type != "cpu"
    batches = args.batches or ([1, 256] if half else [1, 32])
    repeats = args.repeats or (20 if half else 5)

    ref_model = reference.random_reference_model(SHAPES[args.shape], seed=0)
    ours = clip.build_model({key: value.clone() for key, value in ref_model.state_dict().items()})
    ours.requires_grad_(False)
    ref_model.requires_grad_(False)
    if half:
        reference.model_module().convert_weights(ref_model.to(device))
        convert_to_half(ours.to(device))
    dtype = torch.float16 if half else torch.float32
    print(f"{args.shape} random weights, {device} {dtype}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, median of {repeats} alternating runs")
    print(f"{'measure':<34}{'reference':>12}{'photosort':>12}{'ratio':>8}")

    tokens = clip.tokenize([QUERY]).to(device)
    with torch.inference_mode():
        expected, actual = ref_model.encode_text(tokens).float(), ours.encode_text(tokens).float()
        text = alternate({"reference": lambda: ref_model.encode_text(tokens),
                          "photosort": lambda: ours.encode_text(tokens)}, repeats * 4, device)
    error = float((actual - expected).norm() / expected.norm())
    print(f"{'text query latency (ms)':<34}{text['reference'] * 1e3:>12.1f}{text['photosort'] * 1e3:>12.1f}"
          f"{text['reference'] / text['photosort']:>7.2f}x   (relative difference {error:.1e})")

    resolution = ours.input_resolution
    for batch in batches:
        images = torch.randn(batch, 3, resolution, resolution, device=device, dtype=dtype)
        with torch.inference_mode():
            image = alternate({"reference": lambda images=images: ref_model.encode_image(images),
                               "photosort": lambda images=images: ours.encode_image(images)}, repeats, device)
        ref_rate, our_rate = batch / image["reference"], batch / image["photosort"]
        print(f"{f'images/s at batch {batch}':<34}{ref_rate:>12.1f}{our_rate:>12.1f}{our_rate / ref_rate:>7.2f}x")

    flops = vit_image_flops(ours.config)
    vision = ours.config.vision
    tokens_per_image = (vision.resolution // vision.patch_size) ** 2 + 1
    shapes = [(MATMUL_SIZE,) * 3, (batches[-1] * tokens_per_image, vision.width, MLP_RATIO * vision.width)]
    limit = matmul_flops_per_second(device, dtype, shapes, repeats=min(10, 2 * repeats))
    ceiling = limit / flops
    print(f"matmul limit {limit / 1e9:.0f} GFLOP/s ({dtype}, best of {MATMUL_SIZE}^3 and the MLP's "
          f"{shapes[1][0]}x{shapes[1][1]}x{shapes[1][2]}); {flops / 1e9:.2f} GFLOP per image -> ceiling "
          f"{ceiling:.1f} images/s; photosort at batch {batches[-1]} reaches {100 * our_rate / ceiling:.0f}% of it")

if __name__ == "__main__":
    main()
