"""The vector index's compiled extension runs on every CPU the installer may meet: no instruction above the
x86-64-v2 baseline (see the Makefile's HNSWLIB_BASELINE), in the installed build and in the bundled one."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from pathlib import Path

import hnswlib
import pytest

from tests.frozen_helpers import BUNDLE_INTERNAL

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64" or not shutil.which("objdump"),
                                reason="an x86-64 check, with binutils' objdump")

# x86-64-v3 and v4 add AVX, AVX2, FMA, F16C and AVX-512 (all VEX or EVEX encoded: mnemonics starting with "v",
# mask registers' "k" instructions), BMI1/BMI2, LZCNT and MOVBE.
_ABOVE_V2 = re.compile(r"^(v(?!err|erw)\w+|k\w+|andn|bextr|blsi|blsmsk|blsr|bzhi|mulx|pdep|pext|rorx|sarx|shlx"
                       r"|shrx|lzcnt|tzcnt|movbe)$")


def instructions_above_baseline(library: Path) -> dict[str, int]:
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(library)], capture_output=True,
                             text=True, check=True).stdout
    found: dict[str, int] = {}
    for line in listing.splitlines():
        fields = line.split("\t")
        if len(fields) >= 2 and fields[0].strip().endswith(":"):
            mnemonic = fields[1].split()[0] if fields[1].split() else ""
            if _ABOVE_V2.match(mnemonic):
                found[mnemonic] = found.get(mnemonic, 0) + 1
    return found


def test_the_installed_index_extension_stays_within_the_baseline():
    library = Path(hnswlib.__file__)
    assert instructions_above_baseline(library) == {}, f"{library} was built for this CPU only"


def test_the_bundled_index_extension_stays_within_the_baseline():
    bundled = sorted(BUNDLE_INTERNAL.glob("hnswlib*.so"))
    if not bundled:
        pytest.skip("no bundle built (make package)")
    assert instructions_above_baseline(bundled[0]) == {}


def test_the_check_sees_instructions_above_the_baseline(tmp_path):
    # The check itself: a function compiled for x86-64-v3 is caught.
    source = tmp_path / "wide.c"
    source.write_text("float dot(const float *a, const float *b, int n) { float s = 0; "
                      "for (int i = 0; i < n; i++) s += a[i] * b[i]; return s; }\n")
    library = tmp_path / "libwide.so"
    subprocess.run(["gcc", "-O3", "-march=x86-64-v3", "-ffast-math", "-shared", "-fPIC", "-o", library, source],
                   check=True)
    assert instructions_above_baseline(library)
