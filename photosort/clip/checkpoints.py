"""Reading CLIP weights from every format they are published in, without running code from the file.

- safetensors (open_clip's `open_clip_model.safetensors`): a header and raw tensors; nothing to execute.
- plain `torch.save` files (state dicts, open_clip's `.bin`): `torch.load(weights_only=True)`, which refuses
  anything but tensors and plain containers.
- OpenAI's TorchScript archives: the weights are read from the archive's pickle by photosort.clip.stored, whose
  unpickler builds tensors and plain objects only. The archive's TorchScript code is never compiled or run.

Before any reader sees a file, the sizes it declares (zip entries, safetensors offsets) are checked against the
file's own size (photosort.clip.stored): readers allocate what a file declares, and a few megabytes can declare
gigabytes.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import torch

from .build import missing_keys
from .errors import CheckpointError
from .stored import (
    StoredTensor,
    check_zip_sizes,
    is_safetensors,
    is_torchscript,
    read_tensors,
    safetensors_header,
    unwrap,
)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The CLIP weights in a checkpoint file, unwrapped and checked to look like CLIP."""
    path = Path(path)
    try:
        raw = _read_any(path)
    except CheckpointError:
        raise
    except FileNotFoundError as error:
        raise CheckpointError(f"{path}: no such file") from error
    except Exception as error:  # every reader fails its own way on a file that is not its format
        raise CheckpointError(f"{path} could not be read as a checkpoint: {_reason(path, error)}") from error
    state_dict = unwrap(raw, torch.Tensor)
    if state_dict is None:
        raise CheckpointError(f"{path} is not a CLIP checkpoint: it holds no state dict of tensors")
    missing = missing_keys(state_dict)
    if missing:
        raise CheckpointError(f"{path} is not a CLIP checkpoint: missing {', '.join(missing)}")
    return state_dict


def _reason(path: Path, error: Exception) -> str:
    """Why a file is no checkpoint, in words a person can act on. The readers' own messages are for their
    authors ("KeyError: 101", "invalid load key"); they stay in the traceback (PHOTOSORT_TRACEBACK=1)."""
    if path.stat().st_size == 0:
        return "the file is empty"
    first_line = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    if first_line.startswith("Weights only load failed"):
        return "it holds Python objects other than tensors, which are refused for safety"
    return "it is not a model file (safetensors, PyTorch or TorchScript), or it is damaged or incomplete"


def _read_any(path: Path) -> object:
    """The file's contents, read by the reader of its format once the sizes it declares are known to fit it."""
    if is_safetensors(path):
        safetensors_header(path)  # checks the layout
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    is_zip = zipfile.is_zipfile(path)
    if is_zip:
        with zipfile.ZipFile(path) as archive:
            check_zip_sizes(path, archive)
            if is_torchscript(archive):
                return {key: _as_torch(value) for key, value in read_tensors(path).items()}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol")  # harmless; refusals still raise
        if is_zip and path.suffix != ".safetensors":
            # Memory-mapped: tensors are paged in from the file as they are used, not copied up front.
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        # An open file, not a path: torch.load picks its reader by a path's suffix, not by its contents.
        with path.open("rb") as file:
            return torch.load(file, map_location="cpu", weights_only=True)


def _as_torch(tensor: StoredTensor) -> torch.Tensor:
    """A stored tensor as a torch tensor over the same (copy-on-write mapped) memory, in its stored dtype."""
    storage = torch.from_numpy(tensor.storage)
    if tensor.dtype == "BF16":
        storage = storage.view(torch.bfloat16)
    raw = tensor.raw()  # checks that the layout lies within the storage
    stride = [step // raw.itemsize for step in raw.strides]
    return storage.as_strided(raw.shape, stride, tensor.offset)
