"""`load`: from a model name or a checkpoint file to a CLIP on the best device, with its preprocessing."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable

import torch

from ..devices import AUTO
from .build import build_model, convert_to_half
from .checkpoints import read_state_dict
from .errors import ClipError
from .install import resolve_checkpoint
from .model import CLIP
from .preprocess import Preprocess

DEVICE_VARIABLE = "PHOTOSORT_DEVICE"  # auto, cpu, cuda, cuda:N or mps: overrides the automatic choice

PRECISION_VARIABLE = "PHOTOSORT_CPU_BF16"  # 0 or 1: overrides the hardware check below
# The instructions with which torch's CPU kernels (oneDNN) multiply bf16 matrices natively, several times faster
# than fp32 (AMX tiles: 6x for a ViT-B block on this project's machine). Without them bf16 is emulated: slower.
BFLOAT16_INSTRUCTIONS = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")


@functools.cache
def cpu_has_fast_bfloat16() -> bool:
    """Whether this CPU has bf16 matrix instructions (AMX or AVX512-BF16).

    Read from the hardware, never timed: a timing taken as a process starts or on a busy machine is noise
    (fp32 measured anywhere from 0.9 to 12 ms for the same product), and the precision must not change from
    one run to the next, or a library's queries and its photos are encoded differently.
    """
    override = os.environ.get(PRECISION_VARIABLE)
    if override in ("0", "1"):
        return override == "1"
    # torch.cpu's checks are private but stable since torch 2.3; a torch without them gets fp32.
    return any(getattr(torch.cpu, check, lambda: False)() for check in BFLOAT16_INSTRUCTIONS)


def detected_devices() -> list[tuple[str, str]]:
    """(device, what it is) for each device photosort can run on here, the automatic choice first."""
    found = []
    for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        name = torch.cuda.get_device_name(index)
        memory = torch.cuda.get_device_properties(index).total_memory / 2**30
        found.append((f"cuda:{index}", f"{name}, {memory:.0f} GB, half precision"))
    if torch.backends.mps.is_available():
        found.append(("mps", "Apple GPU (Metal), half precision"))
    cores = os.cpu_count() or 1
    precision = "bf16 matrix units" if cpu_has_fast_bfloat16() else "fp32"
    found.append(("cpu", f"CPU, {cores} cores, {precision}"))
    return found


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device asked for; with none (or "auto"), $PHOTOSORT_DEVICE, else CUDA, else MPS, else the CPU."""
    choice = AUTO if device is None else str(device).strip().lower()
    if choice == AUTO:
        choice = os.environ.get(DEVICE_VARIABLE, AUTO).strip().lower() or AUTO
    if choice == AUTO:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        return torch.device(choice)
    except RuntimeError as error:
        raise ClipError(f"unknown device {choice!r}: use auto, cpu, cuda, cuda:N or mps") from error


def load(name_or_path: str | os.PathLike, device: str | torch.device | None = None, *,
         activation: str | None = None,
         progress: Callable[[int, int | None], None] | None = None) -> tuple[CLIP, Preprocess]:
    """A CLIP model in eval mode and the preprocessing its images need.

    `name_or_path` is a name from `available_models()` or a checkpoint file in any supported format.
    `activation` overrides the activation ("quick_gelu" or "gelu"); a known model's comes from the registry.
    On CUDA and MPS the model runs in fp16 (fp32 there if fp16 fails); if the device fails, it runs on the CPU
    in fp32, with a warning.
    """
    path, activation = resolve_checkpoint(name_or_path, activation, progress)
    state_dict = read_state_dict(path)
    target = resolve_device(device)
    model = _place(state_dict, activation, target)
    model.requires_grad_(False)  # inference only: no autograd bookkeeping even outside torch.no_grad()
    return model, Preprocess(model.input_resolution)


def _place(state_dict: dict, activation: str, device: torch.device) -> CLIP:
    """The model on `device`: fp16 on an accelerator, else fp32 there, else fp32 on the CPU with a warning."""
    if device.type == "cpu":
        return build_model(state_dict, activation)
    failures = []
    for half in (True, False):
        # Each try starts from the checkpoint's own tensors: a failed half cast must not leak into the next.
        try:
            return _on_accelerator(build_model(state_dict, activation), device, half)
        except Exception as error:  # a missing driver, an unsupported op or no memory: each raises its own type
            failures.append(f"{'fp16' if half else 'fp32'}: {str(error).splitlines()[0] if str(error) else error!r}")
    warnings.warn(f"could not run the model on {device} ({'; '.join(failures)}); using the CPU instead",
                  RuntimeWarning, stacklevel=3)
    return build_model(state_dict, activation)


def _on_accelerator(model: CLIP, device: torch.device, half: bool) -> CLIP:
    """The model moved to the device, proven there by encoding a short text and a blank image."""
    model = model.to(device)
    if half:
        model = convert_to_half(model)
    with torch.inference_mode():
        tokens = torch.zeros(1, model.context_length, dtype=torch.int32, device=device)
        tokens[0, 0] = 1  # any row whose highest id marks its end works for a smoke test
        model.encode_text(tokens)
        model.encode_image(torch.zeros(1, 3, model.input_resolution, model.input_resolution, device=device))
    return model
