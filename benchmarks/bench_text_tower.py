"""The text tower three ways, for a search query: numpy (photosort.clip.TextEncoder, what search uses), onnxruntime
over the tower exported once to ONNX (the other way the issue named), and torch (the full model), side by side:

- cold: a fresh process that imports what it needs, reads the weights and encodes one query (8 template
  prompts, as a short query is read);
- warm: one query (8 prompts), and one long query (a single prompt), in a process that has the tower loaded;
- what each needs beyond photosort's own dependencies, and the vectors' distance from torch's fp32 ones.

onnxruntime and onnx are not photosort dependencies: their column is printed only where they are installed
(`pip install onnxruntime onnx onnxscript`); the export runs torch.onnx once, as installing a model would.

    python benchmarks/bench_text_tower.py [--shape ViT-B-32-256] [--runs 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_clip import SHAPES  # noqa: E402
from benchmarks.bench_library import write_checkpoint  # noqa: E402

SHORT = [template.replace("{}", "kids on a beach") for template in (
    "a photo of {}.", "a blurry photo of {}.", "a close-up photo of {}.", "a bright photo of {}.",
    "a dark photo of {}.", "a cropped photo of {}.", "a good photo of {}.", "a photo of the {}.")]
LONG = ["three kids building a sandcastle on a beach at sunset with a dog running by"]

# One process: import, read, encode SHORT; prints [seconds to first vectors, vectors].
COLD = {
    "numpy": ("from photosort.clip.text_encoder import TextEncoder\n"
              "vectors = TextEncoder(sys.argv[1]).encode_texts(texts)"),
    "onnxruntime": ("import onnxruntime\nfrom photosort.clip.tokenizer import token_ids\n"
                    "session = onnxruntime.InferenceSession(sys.argv[2], providers=['CPUExecutionProvider'])\n"
                    "tokens = token_ids(texts).astype('int64')\n"
                    "tokens = tokens[:, :int(tokens.argmax(1).max()) + 1]\n"
                    "out = session.run(None, {'tokens': tokens})[0]\n"
                    "vectors = out / (out ** 2).sum(1, keepdims=True) ** 0.5"),
    "torch": ("from photosort.clip.encoder import Encoder\n"
              "vectors = Encoder.load(sys.argv[1], 'cpu').encode_texts(texts)"),
}
COLD_FRAME = ("import json, sys, time\nstarted = time.perf_counter()\ntexts = json.loads(sys.argv[3])\n{body}\n"
              "print(json.dumps([time.perf_counter() - started, vectors.tolist()]))")


def export_onnx(model: Path, target: Path) -> None:
    """The text tower as ONNX, token ids [batch, length] in, features [batch, embed_dim] out."""
    import torch

    import photosort.clip as clip

    class TextOnly(torch.nn.Module):
        def __init__(self, full):
            super().__init__()
            self.full = full

        def forward(self, tokens):  # encode_text, its length taken from the input (the caller cuts the padding)
            full = self.full
            x = full.token_embedding(tokens) + full.positional_embedding[:tokens.shape[1]]  # [batch, length, width]
            x = full.transformer(x)
            x = x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)]  # [batch, width] at each end token
            return full.ln_final(x) @ full.text_projection  # [batch, embed_dim]

    full, _ = clip.load(model, "cpu")
    example = clip.tokenize(SHORT).long()
    example = example[:, :int(example.argmax(1).max()) + 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on the end-token arithmetic, and deprecations
        torch.onnx.export(TextOnly(full).eval(), (example,), str(target), input_names=["tokens"],
                          output_names=["features"], dynamic_axes={"tokens": {0: "batch", 1: "length"},
                                                                   "features": {0: "batch"}}, dynamo=False)


def cold(kind: str, model: Path, onnx: Path, runs: int) -> tuple[list[float], list[float], np.ndarray]:
    """(whole-process seconds, in-process seconds from the first import, the vectors)."""
    code = COLD_FRAME.format(body=COLD[kind])
    whole, inside, vectors = [], [], np.zeros(0)
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", code, str(model), str(onnx), json.dumps(SHORT)], cwd=ROOT,
                                env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                                    filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))),
                                capture_output=True, text=True, check=True)
        whole.append(time.perf_counter() - started)
        seconds, found = json.loads(result.stdout)
        inside.append(seconds)
        vectors = np.asarray(found, np.float32)
    return whole, inside, vectors


def warm(kind: str, model: Path, onnx: Path, repeats: int = 20) -> dict[str, float]:
    from photosort.clip.tokenizer import token_ids

    if kind == "numpy":
        from photosort.clip.text_encoder import TextEncoder

        encode = TextEncoder(model).encode_texts
    elif kind == "torch":
        from photosort.clip.encoder import Encoder

        encode = Encoder.load(model, "cpu").encode_texts
    else:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])

        def encode(texts):
            tokens = token_ids(texts).astype(np.int64)
            return session.run(None, {"tokens": tokens[:, :int(tokens.argmax(1).max()) + 1]})[0]
    found = {}
    for name, texts in (("8 prompts", SHORT), ("1 long prompt", LONG)):
        encode(texts)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            encode(texts)
            times.append(time.perf_counter() - started)
        found[name] = statistics.median(times)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=list(SHAPES), default="ViT-B-32-256")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    kinds = ["numpy", "torch"]
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        kinds.insert(1, "onnxruntime")
    else:
        print("onnxruntime or onnx is not installed: numpy and torch only (pip install onnxruntime onnx onnxscript)")
    with tempfile.TemporaryDirectory() as work:
        model, onnx = Path(work) / "model.safetensors", Path(work) / "text.onnx"
        write_checkpoint(model, args.shape)
        if "onnxruntime" in kinds:
            started = time.perf_counter()
            export_onnx(model, onnx)
            print(f"ONNX export of the text tower: {time.perf_counter() - started:.1f} s, "
                  f"{onnx.stat().st_size / 1e6:.0f} MB (a second copy of the weights, beside the checkpoint)")
        rows: dict[str, dict[str, str]] = {}
        vectors: dict[str, np.ndarray] = {}
        for kind in kinds:
            whole, inside, vectors[kind] = cold(kind, model, onnx, args.runs)
            rows.setdefault("cold process, whole (min / median)", {})[kind] = \
                f"{min(whole):.2f} / {statistics.median(whole):.2f} s"
            rows.setdefault("  of it, import + read + encode", {})[kind] = \
                f"{min(inside):.2f} / {statistics.median(inside):.2f} s"
            for name, seconds in warm(kind, model, onnx).items():
                rows.setdefault(f"warm, {name} (median)", {})[kind] = f"{1000 * seconds:.1f} ms"
        for kind in kinds:
            difference = float(np.abs(vectors[kind] - vectors["torch"]).max())
            rows.setdefault("largest difference from torch", {})[kind] = f"{difference:.1e}"
        print(f"\n{args.shape} text tower, random weights, this machine ({os.cpu_count()} cores), {args.runs} runs")
        print(f"{'':38}" + "".join(f"{kind:>16}" for kind in kinds))
        for what, by_kind in rows.items():
            print(f"{what:38}" + "".join(f"{by_kind.get(kind, '-'):>16}" for kind in kinds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
