"""The layering rule, checked on every import statement of the package: `core` and `clip` never import Qt;
`ui` never imports torch, hnswlib or sqlite3, nor the library engine or the CLIP engine (it goes through the
app layer, and never reaches past the session to its library); `app` holds no widgets; and the app's process
never loads torch at all (the model runs in a child process)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import photosort

PACKAGE = Path(photosort.__file__).parent

FORBIDDEN = {
    "core": ("PySide6", "photosort.ui", "photosort.app"),
    "clip": ("PySide6", "photosort.ui", "photosort.app", "photosort.core"),
    "app": ("PySide6.QtWidgets", "photosort.ui", "torch"),
    "ui": ("torch", "hnswlib", "sqlite3", "photosort.core", "photosort.clip"),
}


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module a file imports (relative imports resolved against its package)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def violations(layer: str) -> list[str]:
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in imported_modules(path):
            for forbidden in FORBIDDEN[layer]:
                if name == forbidden or name.startswith(forbidden + "."):
                    found.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return found


def test_each_layer_imports_only_what_it_may():
    found = [line for layer in FORBIDDEN for line in violations(layer)]
    assert not found, "\n".join(found)


def test_widgets_never_reach_past_the_session_to_its_library():
    reaching = []
    for path in sorted((PACKAGE / "ui").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "library":
                reaching.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} reads .library")
    assert not reaching, "\n".join(reaching)


def test_the_checker_sees_relative_and_plain_imports(tmp_path):
    # The rule is only as good as the parser: a relative import of the engine and a plain `import torch` count.
    sample = PACKAGE / "ui" / "photo_grid.py"
    names = imported_modules(sample)
    assert "photosort.app.thumbnails" in names and "PySide6.QtWidgets" in names


def test_the_apps_process_never_loads_torch():
    code = ("import sys; import photosort.ui.app, photosort.ui.main_window, photosort.app.session, "
            "photosort.app.models, photosort.clip.text_encoder, photosort.clip.stored; "
            "print(sorted(m for m in ('torch', 'photosort.clip.model') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
