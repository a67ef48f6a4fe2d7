"""The tensors of a checkpoint file, read without torch (a query must not wait seconds for torch to import).

Every format photosort loads is read here as numpy arrays, mapped from the file rather than copied:

- safetensors: a JSON header, then raw little-endian tensors at the offsets it gives;
- `torch.save` zips (state dicts, open_clip's `.bin`): a pickle naming, for each tensor, a storage file of the
  archive (`<root>/data/<key>`) and its dtype, offset, size and stride;
- TorchScript archives (OpenAI's `.pt`): the same storages, behind a pickle of the module tree.

The pickles are read by an unpickler that builds tensors, plain containers and attribute holders, and refuses
every other global: nothing in the file is run. Before anything is read, the sizes the file declares (zip
entries, safetensors offsets) are checked against the file's own size, since readers allocate what a file
declares. Pre-2019 `torch.save` files (not zips) are not read here (NeedsTorchError): torch reads them.
"""

from __future__ import annotations

import io
import json
import math
import mmap
import pickle
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError, NeedsTorchError

SAFETENSORS_HEADER_BYTES = 8  # little-endian u64 length of the JSON header that opens the file
# safetensors' dtype names, and numpy's types for them. numpy has no bfloat16: its 16 bits are read as uint16.
SAFETENSORS_DTYPES = {
    "BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "I16": np.int16, "U16": np.uint16, "F16": np.float16,
    "BF16": np.uint16, "I32": np.int32, "U32": np.uint32, "F32": np.float32, "I64": np.int64, "U64": np.uint64,
    "F64": np.float64,
}
SAFETENSORS_DTYPE_BYTES = {"F8_E4M3": 1, "F8_E5M2": 1} | {
    name: np.dtype(kind).itemsize for name, kind in SAFETENSORS_DTYPES.items()}
# torch's storage classes, as pickles name them, by their safetensors dtype name.
STORAGE_DTYPES = {
    "FloatStorage": "F32", "HalfStorage": "F16", "BFloat16Storage": "BF16", "DoubleStorage": "F64",
    "LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8", "ByteStorage": "U8",
    "BoolStorage": "BOOL",
}
# How much more than the file a zip checkpoint's entries may declare, unpacked. torch writes weights stored, not
# compressed (TorchScript compresses only its few kilobytes of code), so the declared sizes add up to less than
# the file; an archive re-packed with compression unpacks to a little more, as weights hardly compress. A "zip
# bomb" (gigabytes of zeros in a few megabytes) declares hundreds of times the file.
MAX_UNPACKED_RATIO = 2
WRAPPER_KEYS = ("state_dict", "model")  # training checkpoints nest the weights under one of these
DATA_PARALLEL_PREFIX = "module."  # left by torch.nn.DataParallel / DistributedDataParallel
ZIP_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then the lengths of the name and the extra field
ZIP_LOCAL_SIGNATURE = b"PK\x03\x04"
# torch.save's format before the zip one opens with a pickle of this number (protocol 2: within 16 bytes).
LEGACY_MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[2:-1]
LEGACY_HEAD = 16
BFLOAT16_SHIFT = 16  # a bfloat16 is the top half of the float32 with the same sign, exponent and leading bits


@dataclass(frozen=True)
class StoredTensor:
    """One tensor of a checkpoint: a view into a flat storage (numpy, mapped from the file where it can be)."""

    dtype: str  # safetensors' name: "F32", "F16", "BF16", ...
    shape: tuple[int, ...]
    storage: np.ndarray  # [elements] of the storage's type (uint16 for BF16)
    offset: int = 0  # in elements
    stride: tuple[int, ...] | None = None  # in elements; None: contiguous

    def raw(self) -> np.ndarray:
        """The tensor in its stored type (bfloat16 as uint16), a view of the storage, checked to lie within it."""
        count = math.prod(self.shape)
        stride = self.stride if self.stride is not None else _contiguous_strides(self.shape)
        if len(stride) != len(self.shape) or any(step < 0 for step in stride) or self.offset < 0:
            raise CheckpointError(f"a tensor of shape {list(self.shape)} has a bad layout")
        if count > len(self.storage):
            # A checkpoint's tensor never holds more values than its storage: a forged stride of 0 would make a
            # few bytes of file into gigabytes once copied.
            raise CheckpointError(f"a tensor of shape {list(self.shape)} declares more values than its storage "
                                  f"holds ({len(self.storage)})")
        if count == 0:
            return np.zeros(self.shape, self.storage.dtype)
        last = self.offset + sum((size - 1) * step for size, step in zip(self.shape, stride, strict=True))
        if last >= len(self.storage):
            raise CheckpointError(f"a tensor of shape {list(self.shape)} lies past the end of its storage")
        itemsize = self.storage.itemsize
        return np.lib.stride_tricks.as_strided(self.storage[self.offset:], self.shape,
                                               [step * itemsize for step in stride], writeable=False)

    def array(self) -> np.ndarray:
        """A floating tensor as float32: a read-only view of the file where it is stored so (no copy, and its
        pages shared with the system's file cache), else converted into memory of its own."""
        raw = self.raw()
        if self.dtype == "F32" and raw.flags.c_contiguous:
            return raw
        return as_float32(raw, self.dtype)


def as_float32(raw: np.ndarray, dtype: str) -> np.ndarray:
    """Stored values (of safetensors' `dtype`; bfloat16 as uint16) as a new float32 array; bfloat16 widened
    exactly."""
    if dtype == "BF16":
        return (raw.astype(np.uint32) << BFLOAT16_SHIFT).view(np.float32)
    return np.array(raw, dtype=np.float32)


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


# Formats and the sizes they declare


def looks_like_safetensors(head: bytes, file_size: int, suffix: str) -> bool:
    """A JSON header after its length; a file named .safetensors is one even if the length is wrong (it is then
    refused as damaged rather than tried as a pickle)."""
    if len(head) <= SAFETENSORS_HEADER_BYTES:
        return False
    (header_length,) = struct.unpack("<Q", head[:SAFETENSORS_HEADER_BYTES])
    return head[SAFETENSORS_HEADER_BYTES:] == b"{" and (
        header_length <= file_size - SAFETENSORS_HEADER_BYTES or suffix == ".safetensors")


def is_safetensors(path: Path) -> bool:
    with path.open("rb") as file:
        head = file.read(SAFETENSORS_HEADER_BYTES + 1)
    return looks_like_safetensors(head, path.stat().st_size, path.suffix)


def safetensors_header(path: Path) -> tuple[dict[str, Any], int]:
    """The header of a safetensors file, checked: every tensor lies within the file and fills its bytes
    exactly (the header alone decides what is mapped and allocated); and where its data begins."""
    file_size = path.stat().st_size
    with path.open("rb") as file:
        (header_length,) = struct.unpack("<Q", file.read(SAFETENSORS_HEADER_BYTES))
        data_size = file_size - SAFETENSORS_HEADER_BYTES - header_length
        if data_size < 0:
            raise CheckpointError(f"{path} is a damaged safetensors file: its header runs past the end of the file")
        header = json.loads(file.read(header_length))
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} is a damaged safetensors file: its header is not a table of tensors")
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end <= data_size:
            raise CheckpointError(f"{path} is a damaged safetensors file: tensor {name!r} lies past the end of "
                                  f"the file ({size_text(end)} declared, {size_text(data_size)} present)")
        width = SAFETENSORS_DTYPE_BYTES.get(entry["dtype"])  # a newer dtype: its reader checks its size
        if width is not None and math.prod(entry["shape"]) * width != end - begin:
            raise CheckpointError(f"{path} is a damaged safetensors file: tensor {name!r} is {entry['dtype']} "
                                  f"{list(entry['shape'])} but spans {end - begin} bytes")
    return header, SAFETENSORS_HEADER_BYTES + header_length


def check_zip_sizes(path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse a zip checkpoint (torch.save, TorchScript) whose entries do not fit the file: one that lies past
    its end, one stored uncompressed that declares another size, or entries declaring more than
    MAX_UNPACKED_RATIO times the file altogether. Readers inflate an entry into memory whole."""
    file_size = path.stat().st_size
    declared = 0
    for entry in archive.infolist():
        if entry.header_offset + entry.compress_size > file_size:
            raise CheckpointError(f"{path} is damaged: its entry {entry.filename!r} lies past the end of the file")
        if entry.compress_type == zipfile.ZIP_STORED and entry.file_size != entry.compress_size:
            raise CheckpointError(f"{path} is damaged: its entry {entry.filename!r} is stored in "
                                  f"{entry.compress_size} bytes but declares {entry.file_size}")
        declared += entry.file_size
    if declared > MAX_UNPACKED_RATIO * file_size:
        raise CheckpointError(f"{path} is refused: its entries declare {size_text(declared)} unpacked, from a "
                              f"{size_text(file_size)} file (checkpoint weights do not compress like that)")


def size_text(count: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def is_torchscript(archive: zipfile.ZipFile) -> bool:
    """TorchScript archives carry their compiled code and constants beside the pickled module."""
    return any(name.endswith("/constants.pkl") or "/code/" in name for name in archive.namelist())


# Reading


def read_tensors(path: str | Path, wanted: Callable[[str], bool] = lambda key: True) -> dict[str, StoredTensor]:
    """The tensors of a checkpoint whose names `wanted` accepts, unwrapped from a training checkpoint's dict
    and DataParallel's prefix. Raises CheckpointError for a file that is damaged or no checkpoint, and its
    subclass NeedsTorchError for one that only torch reads."""
    path = Path(path)
    try:
        if is_safetensors(path):
            return _read_safetensors(path, wanted)
        if not zipfile.is_zipfile(path):
            if _is_legacy_pickle(path):
                raise NeedsTorchError(f"{path} is a pre-2019 PyTorch file, which torch reads")
            raise CheckpointError(f"{path} could not be read as a checkpoint: it is not a model file (safetensors, "
                                  "PyTorch or TorchScript), or it is damaged or incomplete")
        with zipfile.ZipFile(path) as archive:
            check_zip_sizes(path, archive)
            tensors = _read_zip(path, archive)
    except CheckpointError:
        raise
    except FileNotFoundError as error:
        raise CheckpointError(f"{path}: no such file") from error
    except Exception as error:  # noqa: BLE001 - a damaged file fails in any of the readers' own ways
        raise CheckpointError(f"{path} could not be read as a checkpoint: {error}") from error
    return {key: value for key, value in tensors.items() if wanted(key)}


def _is_legacy_pickle(path: Path) -> bool:
    """torch.save's format before the zip one: a pickle that opens with torch's magic number."""
    with path.open("rb") as file:
        return LEGACY_MAGIC in file.read(LEGACY_HEAD)


def _map(path: Path) -> mmap.mmap:
    """The file mapped copy-on-write: arrays over it are writable (torch wants that) yet never write the file."""
    with path.open("rb") as file:
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY)


def _read_safetensors(path: Path, wanted: Callable[[str], bool]) -> dict[str, StoredTensor]:
    header, data_start = safetensors_header(path)
    mapped = _map(path)
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__" or not wanted(name):
            continue
        kind = SAFETENSORS_DTYPES.get(entry["dtype"])
        if kind is None:
            raise NeedsTorchError(f"{path}: tensor {name!r} is {entry['dtype']}, which numpy cannot hold")
        begin, end = entry["data_offsets"]
        storage = np.frombuffer(mapped, np.dtype(kind).newbyteorder("<"), (end - begin) // np.dtype(kind).itemsize,
                                data_start + begin)
        tensors[name] = StoredTensor(entry["dtype"], tuple(entry["shape"]), storage)
    return tensors


def _read_zip(path: Path, archive: zipfile.ZipFile) -> dict[str, StoredTensor]:
    """The tensors of a torch.save zip (a state dict, maybe wrapped) or of a TorchScript module tree."""
    pickles = [name for name in archive.namelist() if name.count("/") == 1 and name.endswith("/data.pkl")]
    if not pickles:
        raise CheckpointError(f"{path} is a zip archive without the data.pkl of a PyTorch checkpoint")
    root = pickles[0].split("/")[0]
    if f"{root}/byteorder" in archive.namelist() and archive.read(f"{root}/byteorder").strip() != b"little":
        raise NeedsTorchError(f"{path} was saved on a big-endian machine")
    script = is_torchscript(archive)
    unpickler = _TensorUnpickler(path, archive, root, archive.read(pickles[0]), script)
    loaded = unpickler.load()
    if script:
        if not isinstance(loaded, _ScriptModule):
            raise CheckpointError(f"{path} is a TorchScript archive whose data.pkl does not hold a module")
        return _module_tensors(loaded)
    tensors = unwrap(loaded, StoredTensor)
    if tensors is None:
        raise CheckpointError(f"{path} is not a CLIP checkpoint: it holds no state dict of tensors")
    return tensors


def unwrap(raw: object, tensor_type: type) -> dict[str, Any] | None:
    """Take the weights (values of `tensor_type`) out of a wrapper dict and strip DataParallel prefixes; None
    if there are none."""
    seen: set[int] = set()  # a forged pickle can make a dict that holds itself
    while isinstance(raw, Mapping) and id(raw) not in seen:
        seen.add(id(raw))
        nested = next((raw[key] for key in WRAPPER_KEYS if isinstance(raw.get(key), Mapping)), None)
        if nested is None:
            break
        raw = nested
    if not isinstance(raw, Mapping) or not raw:
        return None
    tensors = {str(key): value for key, value in raw.items() if isinstance(value, tensor_type)}
    if not tensors:
        return None
    if all(key.startswith(DATA_PARALLEL_PREFIX) for key in tensors):
        tensors = {key[len(DATA_PARALLEL_PREFIX):]: value for key, value in tensors.items()}
    return tensors


class _ScriptModule:
    """Stands in for a TorchScript class while unpickling: it only keeps the attributes it is given."""

    def __init__(self, *args: object):
        self.attributes: dict = {}

    def __setstate__(self, state: object) -> None:
        self.attributes = dict(state) if isinstance(state, Mapping) else {}


def _module_tensors(module: _ScriptModule) -> dict[str, StoredTensor]:
    """Every tensor attribute of a TorchScript module tree, by dotted name, as `state_dict()` would give it."""
    tensors: dict[str, StoredTensor] = {}
    pending = [("", module)]
    while pending:
        prefix, node = pending.pop()
        for name, value in node.attributes.items():
            if isinstance(value, StoredTensor):
                tensors[prefix + name] = value
            elif isinstance(value, _ScriptModule):
                pending.append((f"{prefix}{name}.", value))
    return tensors


@dataclass(frozen=True)
class _StorageType:
    dtype: str


@dataclass(frozen=True)
class _Storage:
    dtype: str
    elements: np.ndarray


def _rebuild_tensor(storage: _Storage, offset: int, shape: tuple, stride: tuple, *_: object) -> StoredTensor:
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor without a storage")
    if not (_is_count(offset) and isinstance(shape, tuple) and isinstance(stride, tuple)
            and all(_is_count(value) for value in (*shape, *stride)) and len(shape) == len(stride)):
        raise pickle.UnpicklingError(f"a tensor with a malformed layout: offset {offset!r}, shape {shape!r}, "
                                     f"stride {stride!r}")
    return StoredTensor(storage.dtype, shape, storage.elements, offset, stride)


def _is_count(value: object) -> bool:
    return type(value) is int and value >= 0


def _rebuild_parameter(tensor: StoredTensor, *_: object) -> StoredTensor:
    return tensor


class _TensorUnpickler(pickle.Unpickler):
    """Builds tensors, plain containers and (in TorchScript) attribute holders; refuses every other global."""

    def __init__(self, path: Path, archive: zipfile.ZipFile, root: str, data: bytes, script: bool):
        super().__init__(io.BytesIO(data))
        self.path, self.archive, self.root, self.script = path, archive, root, script
        self.storages: dict[str, _Storage] = {}
        self.mapped: mmap.mmap | None = None

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("__torch__") and self.script:
            return _ScriptModule
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a checkpoint")

    def persistent_load(self, pid: tuple) -> _Storage:
        kind, storage_type, key, _location, _numel = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent record {kind!r}")
        if key not in self.storages:
            dtype = np.dtype(SAFETENSORS_DTYPES[storage_type.dtype]).newbyteorder("<")
            self.storages[key] = _Storage(storage_type.dtype, self._storage(f"{self.root}/data/{key}", dtype))
        return self.storages[key]

    def _storage(self, name: str, dtype: np.dtype) -> np.ndarray:
        """A storage file of the archive as a flat array: mapped from the file when stored uncompressed (as torch
        writes them), else inflated."""
        entry = self.archive.getinfo(name)
        count = entry.file_size // dtype.itemsize
        if entry.compress_type != zipfile.ZIP_STORED:
            return np.frombuffer(bytearray(self.archive.read(name)), dtype, count)
        if self.mapped is None:
            self.mapped = _map(self.path)
        signature, name_length, extra_length = ZIP_LOCAL_HEADER.unpack_from(self.mapped, entry.header_offset)
        start = entry.header_offset + ZIP_LOCAL_HEADER.size + name_length + extra_length
        if signature != ZIP_LOCAL_SIGNATURE or start + entry.file_size > len(self.mapped):
            raise CheckpointError(f"{self.path} is damaged: its entry {name!r} does not lie where the archive says")
        return np.frombuffer(self.mapped, dtype, count, start)

