"""The architecture stays visible: import boundaries between packages are enforced here.

Parsed with ``ast`` (every import statement, including those inside functions), so a lazy import
cannot sneak around the rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "crmsync"
VENDOR_SDKS = ("klaviyo_api", "openapi_client", "commercetools")

# package prefix -> forbidden import prefixes
RULES: dict[str, tuple[str, ...]] = {
    "crmsync.engine": (
        "crmsync.connectors",
        "crmsync.emulators",
        "crmsync.cli",
        "crmsync.api",
        "crmsync.service",
        "crmsync.config",
        "aiohttp",
        "httpx",
        "fastapi",
        *VENDOR_SDKS,
    ),
    "crmsync.connectors.": (
        "crmsync.cli",
        "crmsync.api",
        "crmsync.engine",
        "crmsync.emulators",
        "crmsync.service",
        "crmsync.config",
        "crmsync.store",
        *VENDOR_SDKS,
    ),
    "crmsync.emulators": (
        "crmsync.connectors",
        "crmsync.engine",
        "crmsync.store",
        "crmsync.service",
        "crmsync.cli",
        "crmsync.api",
        "crmsync.mapping",
        *VENDOR_SDKS,
    ),
    "crmsync.mapping": (
        "crmsync.connectors",
        "crmsync.engine",
        "crmsync.emulators",
        "crmsync.store",
        "crmsync.cli",
        "crmsync.api",
        "crmsync.service",
        *VENDOR_SDKS,
    ),
    "crmsync.store": (
        "crmsync.connectors",
        "crmsync.engine",
        "crmsync.emulators",
        "crmsync.mapping",
        "crmsync.cli",
        "crmsync.api",
        "crmsync.service",
        *VENDOR_SDKS,
    ),
    "crmsync.ports": ("crmsync.",),
    "crmsync.errors": ("crmsync.",),
    "crmsync.model": (
        "crmsync.connectors",
        "crmsync.engine",
        "crmsync.store",
        "crmsync.mapping",
        "crmsync.emulators",
        "crmsync.cli",
        "crmsync.api",
        "crmsync.service",
    ),
    "crmsync.service": ("crmsync.cli", "crmsync.api", "crmsync.emulators", *VENDOR_SDKS),
    "crmsync.api": ("crmsync.cli", "crmsync.emulators", *VENDOR_SDKS),
}
ALLOWED = {"crmsync.ports": ("crmsync.errors",), "crmsync.model": ("crmsync.model",)}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    pkg = _module_name(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                names.append(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.append(node.module)
    return names


def _all_modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _violations() -> list[str]:
    problems: list[str] = []
    for path in _all_modules():
        mod = _module_name(path)
        for prefix, forbidden in RULES.items():
            if not (mod == prefix.rstrip(".") and not prefix.endswith(".")) and not mod.startswith(prefix):
                continue
            if prefix == "crmsync.connectors." and mod == "crmsync.connectors":
                continue
            for name in _imports(path):
                if any(name == a or name.startswith(a + ".") for a in ALLOWED.get(prefix, ())):
                    continue
                for bad in forbidden:
                    if (
                        name == bad.rstrip(".")
                        or name.startswith(bad if bad.endswith(".") else bad + ".")
                        or name == bad
                    ):
                        problems.append(f"{mod} imports {name} (forbidden for {prefix})")
        if mod.startswith("crmsync.connectors.") and mod.count(".") >= 2:
            own = ".".join(mod.split(".")[:3])
            for name in _imports(path):
                if name.startswith("crmsync.connectors.") and not name.startswith(own):
                    problems.append(f"{mod} imports another connector: {name}")
    return problems


def test_import_boundaries_hold() -> None:
    assert _violations() == []


def test_checker_catches_a_violation(tmp_path: Path) -> None:
    """The checker is not vacuous: an engine module importing a connector is reported."""
    bad = SRC / "engine" / "_boundary_probe.py"
    bad.write_text("from crmsync.connectors.klaviyo import create\n", encoding="utf-8")
    try:
        assert any("_boundary_probe" in p for p in _violations())
    finally:
        bad.unlink()


@pytest.mark.parametrize("path", _all_modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_modules_stay_small(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= 600, f"{path.name} has {lines} lines; split it (modules mostly under ~400 lines)"
