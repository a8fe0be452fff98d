"""Every metric the three services export, as create_service builds them, is explained in
docs/operations.md (moved from tests/unit/test_metrics.py: it builds the three services)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT


def test_operations_guide_explains_every_metric(tmp_path: Path) -> None:
    """docs/operations.md names every metric a service exports (per-service pipeline metrics as
    ``exportwatch_<service>_...``), so an operator can look any of them up."""
    from tools.asyncapi import create_services

    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    missing = []
    for name, service in create_services(tmp_path).items():
        for family in service.registry.collect():
            if not family.name.startswith("exportwatch_"):
                continue
            exposed = family.name + ("_total" if family.type == "counter" else "")
            generic = exposed.replace(f"exportwatch_{name}_", "exportwatch_<service>_", 1)
            if f"`{exposed}`" not in guide and f"`{generic}`" not in guide:
                missing.append(exposed)
    assert not missing, f"not explained in docs/operations.md: {missing}"
