"""Reading CLIP weights from every format they are published in, without running code from the file.

- safetensors (open_clip's `open_clip_model.safetensors`): a header and raw tensors; nothing to execute.
- plain `torch.save` files (state dicts, open_clip's `.bin`): `torch.load(weights_only=True)`, which refuses
  anything but tensors and plain containers.
- OpenAI's TorchScript archives: the weights are read from the archive's pickle with an unpickler that builds
  tensors and plain objects only. The archive's TorchScript code is never compiled or run.

Before any reader sees a file, the sizes it declares (zip entries, safetensors offsets) are checked against the
file's own size: readers allocate what a file declares, and a few megabytes can declare gigabytes.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import struct
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch

from .build import missing_keys
from .errors import CheckpointError

SAFETENSORS_HEADER_BYTES = 8  # little-endian u64 length of the JSON header that opens the file
SAFETENSORS_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}
# How much more than the file a zip checkpoint's entries may declare, unpacked. torch writes weights stored, not
# compressed (TorchScript compresses only its few kilobytes of code), so the declared sizes add up to less than
# the file; an archive re-packed with compression unpacks to a little more, as weights hardly compress. A "zip
# bomb" (gigabytes of zeros in a few megabytes) declares hundreds of times the file.
MAX_UNPACKED_RATIO = 2
WRAPPER_KEYS = ("state_dict", "model")  # training checkpoints nest the weights under one of these
DATA_PARALLEL_PREFIX = "module."  # left by torch.nn.DataParallel / DistributedDataParallel

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}


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
    state_dict = unwrap(raw)
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


def unwrap(raw: object) -> dict[str, torch.Tensor] | None:
    """Take the weights out of a wrapper dict and strip DataParallel prefixes; None if there are none."""
    while isinstance(raw, Mapping):
        nested = next((raw[key] for key in WRAPPER_KEYS if isinstance(raw.get(key), Mapping)), None)
        if nested is None:
            break
        raw = nested
    if not isinstance(raw, Mapping) or not raw:
        return None
    tensors = {str(key): value for key, value in raw.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        return None
    if all(key.startswith(DATA_PARALLEL_PREFIX) for key in tensors):
        tensors = {key[len(DATA_PARALLEL_PREFIX):]: value for key, value in tensors.items()}
    return tensors


def _read_any(path: Path) -> object:
    """The file's contents, read by the reader of its format once the sizes it declares are known to fit it."""
    file_size = path.stat().st_size
    with path.open("rb") as file:
        head = file.read(SAFETENSORS_HEADER_BYTES + 1)
    if _looks_like_safetensors(head, file_size, path.suffix):
        _check_safetensors_layout(path, file_size)
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    is_zip = zipfile.is_zipfile(path)
    if is_zip:
        with zipfile.ZipFile(path) as archive:
            _check_zip_sizes(path, archive, file_size)
            if _is_torchscript(archive):
                return read_torchscript_weights(archive)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol")  # harmless; refusals still raise
        if is_zip and path.suffix != ".safetensors":
            # Memory-mapped: tensors are paged in from the file as they are used, not copied up front.
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        # An open file, not a path: torch.load picks its reader by a path's suffix, not by its contents.
        with path.open("rb") as file:
            return torch.load(file, map_location="cpu", weights_only=True)


def _looks_like_safetensors(head: bytes, file_size: int, suffix: str) -> bool:
    """A JSON header after its length; a file named .safetensors is one even if the length is wrong (it is then
    refused as damaged rather than tried as a pickle)."""
    if len(head) <= SAFETENSORS_HEADER_BYTES:
        return False
    (header_length,) = struct.unpack("<Q", head[:SAFETENSORS_HEADER_BYTES])
    return head[SAFETENSORS_HEADER_BYTES:] == b"{" and (
        header_length <= file_size - SAFETENSORS_HEADER_BYTES or suffix == ".safetensors")


def _check_safetensors_layout(path: Path, file_size: int) -> None:
    """Refuse a safetensors file whose header, or any tensor in it, does not lie within the file, or whose tensor
    does not fill its bytes exactly: the header alone decides what is mapped and allocated."""
    with path.open("rb") as file:
        (header_length,) = struct.unpack("<Q", file.read(SAFETENSORS_HEADER_BYTES))
        data_size = file_size - SAFETENSORS_HEADER_BYTES - header_length
        if data_size < 0:
            raise CheckpointError(f"{path} is a damaged safetensors file: its header runs past the end of the file")
        header = json.loads(file.read(header_length))
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end <= data_size:
            raise CheckpointError(f"{path} is a damaged safetensors file: tensor {name!r} lies past the end of "
                                  f"the file ({_size(end)} declared, {_size(data_size)} present)")
        width = SAFETENSORS_DTYPE_BYTES.get(entry["dtype"])  # a newer dtype: its reader checks its size
        if width is not None and math.prod(entry["shape"]) * width != end - begin:
            raise CheckpointError(f"{path} is a damaged safetensors file: tensor {name!r} is {entry['dtype']} "
                                  f"{list(entry['shape'])} but spans {end - begin} bytes")


def _check_zip_sizes(path: Path, archive: zipfile.ZipFile, file_size: int) -> None:
    """Refuse a zip checkpoint (torch.save, TorchScript) whose entries do not fit the file: one that lies past
    its end, one stored uncompressed that declares another size, or entries declaring more than
    MAX_UNPACKED_RATIO times the file altogether. Readers inflate an entry into memory whole."""
    declared = 0
    for entry in archive.infolist():
        if entry.header_offset + entry.compress_size > file_size:
            raise CheckpointError(f"{path} is damaged: its entry {entry.filename!r} lies past the end of the file")
        if entry.compress_type == zipfile.ZIP_STORED and entry.file_size != entry.compress_size:
            raise CheckpointError(f"{path} is damaged: its entry {entry.filename!r} is stored in "
                                  f"{entry.compress_size} bytes but declares {entry.file_size}")
        declared += entry.file_size
    if declared > MAX_UNPACKED_RATIO * file_size:
        raise CheckpointError(f"{path} is refused: its entries declare {_size(declared)} unpacked, from a "
                              f"{_size(file_size)} file (checkpoint weights do not compress like that)")


def _size(count: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def _is_torchscript(archive: zipfile.ZipFile) -> bool:
    """TorchScript archives carry their compiled code and constants beside the pickled module."""
    return any(name.endswith("/constants.pkl") or "/code/" in name for name in archive.namelist())


class _ScriptModule:
    """Stands in for a TorchScript class while unpickling: it only keeps the attributes it is given."""

    def __init__(self, *args: object):
        self.attributes: dict = {}

    def __setstate__(self, state: object) -> None:
        self.attributes = dict(state) if isinstance(state, Mapping) else {}


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: tuple, stride: tuple, *_: object) -> torch.Tensor:
    return storage.as_strided(size, stride, offset)


class _WeightsUnpickler(pickle.Unpickler):
    """Builds tensors, plain containers and attribute-holders; refuses every other global."""

    def __init__(self, archive: zipfile.ZipFile, root: str, data: bytes):
        super().__init__(io.BytesIO(data))
        self.archive, self.root = archive, root
        self.storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str):
        if module.startswith("__torch__"):
            return _ScriptModule
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a TorchScript archive")

    def persistent_load(self, pid: tuple):
        kind, dtype, key, _location, _numel = pid
        if kind != "storage" or not isinstance(dtype, torch.dtype):
            raise pickle.UnpicklingError(f"unexpected persistent record {kind!r}")
        if key not in self.storages:
            raw = bytearray(self.archive.read(f"{self.root}/data/{key}"))
            self.storages[key] = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        return self.storages[key]


def read_torchscript_weights(archive: zipfile.ZipFile) -> dict[str, torch.Tensor]:
    """Every tensor attribute of a TorchScript module tree, by dotted name, as `state_dict()` would give it."""
    pickles = [name for name in archive.namelist() if name.count("/") == 1 and name.endswith("/data.pkl")]
    if not pickles:
        raise CheckpointError("TorchScript archive without data.pkl")
    root = pickles[0].split("/")[0]
    module = _WeightsUnpickler(archive, root, archive.read(pickles[0])).load()
    if not isinstance(module, _ScriptModule):
        raise CheckpointError("TorchScript archive whose data.pkl does not hold a module")
    tensors: dict[str, torch.Tensor] = {}
    pending = [("", module)]
    while pending:
        prefix, node = pending.pop()
        for name, value in node.attributes.items():
            if isinstance(value, torch.Tensor):
                tensors[prefix + name] = value
            elif isinstance(value, _ScriptModule):
                pending.append((f"{prefix}{name}.", value))
    return tensors

