"""The release workflow (.github/workflows/release.yml) runs only on GitHub: here it is checked against GitHub's
workflow schema (check-jsonschema's vendored copy: offline), and for the facts that would otherwise rot in
silence: which builds the matrix makes, that every torch install is the Makefile's pin, that hnswlib is built
for a baseline CPU rather than this one, that the frozen app is tested, and where secrets and write access go."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"

# (runner, variant): CPU everywhere (macOS's one build, PyPI's torch with MPS, is `standard`), CUDA on two.
EXPECTED_BUILDS = {("windows-latest", "cpu"), ("macos-14", "standard"), ("ubuntu-22.04", "cpu"),
                   ("windows-latest", "cuda"), ("ubuntu-22.04", "cuda")}
# hnswlib's target CPU on each runner; MSVC's default is portable, so Windows names none.
HNSWLIB_BASELINE = {"ubuntu-22.04": "-march=x86-64-v2", "macos-14": "-mcpu=apple-m1", "windows-latest": ""}
TORCH_PIN = re.compile(r"torch==[0-9][\w.+]*")  # a pinned torch requirement, as pip takes it


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(path)], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def workflow() -> dict:
    loaded = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    if True in loaded:  # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean true
        loaded["on"] = loaded.pop(True)
    return loaded


@pytest.fixture(scope="module")
def builds(workflow) -> list[dict]:
    return workflow["jobs"]["build"]["strategy"]["matrix"]["include"]


@pytest.fixture(scope="module")
def steps(workflow) -> list[dict]:
    return workflow["jobs"]["build"]["steps"]


def resolve(value, build: dict) -> str:
    """A value as GitHub gives it to one build: each `${{ matrix.NAME }}` replaced (a key it lacks is empty)."""
    return re.sub(r"\$\{\{\s*matrix\.([\w-]+)\s*\}\}", lambda found: str(build.get(found[1], "")), str(value))


def step_running(steps: list[dict], command: str) -> tuple[int, dict]:
    """The one build step whose script contains `command`, with its position."""
    found = [(position, step) for position, step in enumerate(steps) if command in step.get("run", "")]
    assert len(found) == 1, f"expected one step running {command!r}, found {len(found)}"
    return found[0]


def test_the_workflow_is_valid_for_github():
    result = validate(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("text, broken", [
    ("    runs-on: ${{ matrix.os }}\n", "    run-on: ${{ matrix.os }}\n"),  # a job without a runner
    ("  workflow_dispatch:\n", "  workflow_dispatched:\n"),  # a trigger GitHub does not have
])
def test_a_broken_workflow_is_rejected(tmp_path, text, broken):
    source = WORKFLOW.read_text(encoding="utf-8")
    assert source.count(text) == 1, f"the workflow no longer contains {text!r}: choose another thing to break"
    copy = tmp_path / "release.yml"
    copy.write_text(source.replace(text, broken), encoding="utf-8")
    result = validate(copy)
    assert result.returncode != 0, result.stdout


def test_triggers_are_version_tags_and_manual_runs(workflow):
    assert workflow["on"]["push"] == {"tags": ["v*"]}
    assert "workflow_dispatch" in workflow["on"]


def test_the_matrix_makes_exactly_the_shipped_builds(workflow, builds, steps):
    matrix = workflow["jobs"]["build"]["strategy"]["matrix"]
    assert set(matrix) == {"include"}, "only `include` entries: any other key would multiply them"
    made = [(build["os"], build["variant"]) for build in builds]
    assert len(made) == len(set(made)) and set(made) == EXPECTED_BUILDS
    assert all(build.get("torch") for build in builds)
    assert workflow["jobs"]["build"]["runs-on"] == "${{ matrix.os }}"
    (setup_python,) = [step for step in steps if step.get("uses", "").startswith("actions/setup-python@")]
    assert str(setup_python["with"]["python-version"]) == "3.11"


def test_every_torch_install_is_the_makefiles_pin_and_comes_first(builds, steps):
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    (pin,) = re.findall(r"^TORCH_PIN\s*:=\s*(\S+)\s*$", makefile, re.MULTILINE)
    assert set(TORCH_PIN.findall(WORKFLOW.read_text(encoding="utf-8"))) == {pin}
    indexes = {"cpu": r"--index-url https://download\.pytorch\.org/whl/cpu(\s|$)",
               "cuda": r"--index-url https://download\.pytorch\.org/whl/cu\d+(\s|$)"}
    for build in builds:
        command = build["torch"]
        assert "pip install" in command and TORCH_PIN.findall(command) == [pin], command
        if build["variant"] in indexes:
            assert re.search(indexes[build["variant"]], command), command
        else:  # macOS: PyPI's own build
            assert "--index-url" not in command and "--extra-index-url" not in command, command
    torch_step = next(position for position, step in enumerate(steps) if step.get("run") == "${{ matrix.torch }}")
    project_step, _ = step_running(steps, 'pip install -e ".[test,package]"')
    assert torch_step < project_step, "torch must be installed before the project's open range is resolved"


def test_hnswlib_is_built_for_a_baseline_cpu_before_the_project(workflow, builds, steps):
    assert "-march=native" not in repr(workflow)  # in no command or setting (the comments may name it)
    position, step = step_running(steps, "--no-binary hnswlib")
    assert "hnswlib==0.8.0" in step["run"] and "--no-cache-dir" in step["run"]  # never pip's cached build
    assert step["env"]["HNSWLIB_NO_NATIVE"] == "1"
    for build in builds:
        baseline = HNSWLIB_BASELINE[build["os"]]
        # CFLAGS for older setuptools; current setuptools compiles C++ with CXXFLAGS only.
        assert resolve(step["env"]["CFLAGS"], build).split() == baseline.split(), build["os"]
        cxxflags = resolve(step["env"]["CXXFLAGS"], build).split()
        assert set(baseline.split()) <= set(cxxflags) and "-DNDEBUG" in cxxflags, build["os"]
    project_step, _ = step_running(steps, 'pip install -e ".[test,package]"')
    assert position < project_step, "installing the project first would build hnswlib with -march=native"


def test_the_suite_runs_then_the_build_then_the_frozen_app_test(steps):
    suite, _ = step_running(steps, 'pytest -n auto -m "not slow"')
    build, build_step = step_running(steps, "python installer/build.py")
    assert "--variant ${{ matrix.variant }}" in build_step["run"]
    frozen, frozen_step = step_running(steps, "pytest tests/test_frozen_app.py")
    assert "-p no:xdist" in frozen_step["run"] and "if" not in frozen_step  # always, on every build
    assert frozen_step["env"]["QT_QPA_PLATFORM"] == "offscreen"
    upload = next(position for position, step in enumerate(steps)
                  if step.get("uses", "").startswith("actions/upload-artifact@v4"))
    assert suite < build < frozen < upload
    assert all(not step.get("name", "").startswith("Sign") for step in steps[frozen:]), "test what is shipped"
    name = steps[upload]["with"]["name"]
    assert "${{ matrix.os }}" in name and "${{ matrix.variant }}" in name


def test_signing_is_skipped_without_secrets_and_repacks_with_builds_packers(steps):
    for step in steps:
        assert "secrets." not in step.get("if", ""), f"{step.get('name')}: `if:` cannot read secrets"
    signing = [step for step in steps if re.search(r"signtool|codesign|notarytool", step.get("run", ""))]
    for tool in ("signtool", "codesign --force --deep --options runtime", "notarytool submit", "stapler staple"):
        assert any(tool in step["run"] for step in signing), f"no step runs {tool!r}"
    for step in signing:
        assert "env.SIGN_" in step.get("if", ""), f"{step.get('name')} runs without the signing secrets"
    _, windows = step_running(steps, "signtool.FullName sign")
    assert "photosort.exe" in windows["run"] and "photosort-app.exe" in windows["run"]
    # The archive is packed again after signing, with installer/build.py's own functions: they must exist.
    _, repack = step_running(steps, "from installer import build")
    defined = {node.name for node in ast.parse((ROOT / "installer" / "build.py").read_text(encoding="utf-8")).body
               if isinstance(node, ast.FunctionDef)}
    used = set(re.findall(r"\bbuild\.(\w+)", repack["run"]))
    assert used and used <= defined, f"installer/build.py lacks {sorted(used - defined)}"


def test_only_the_release_job_writes_and_only_for_tags(workflow):
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    assert "permissions" not in jobs["build"]
    release = jobs["release"]
    assert release["permissions"] == {"contents": "write"}
    assert release["needs"] == "build" and "refs/tags/" in release["if"]
    uses = [step.get("uses", "") for step in release["steps"]]
    assert any(use.startswith("actions/download-artifact@v4") for use in uses)
    assert any(use.startswith("softprops/action-gh-release@v2") for use in uses)
