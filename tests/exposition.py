"""What the three services expose to Prometheus, read from their real registries: the services are built
as ``exportwatch asyncapi`` builds them (default settings, temporary SQLite files, an empty inbox folder
so the per-source series exist) and never started."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The series names a metric family of each type is exposed under (``_created`` series are disabled).
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
}


@dataclass
class Series:
    """One exposed series name: the label names it can carry, and the label sets it has at start."""

    labels: set[str] = field(default_factory=set)
    samples: list[dict[str, str]] = field(default_factory=list)


def _declared_labels(registry: Any) -> dict[str, set[str]]:
    """Declared label names of every metric object in the registry, by family name (for metrics without
    a child yet, whose samples cannot tell)."""
    out: dict[str, set[str]] = {}
    for collector in list(getattr(registry, "_collector_to_names", {})):
        labels = getattr(collector, "_labelnames", None)
        name = getattr(collector, "_name", None)
        if labels is not None and name:
            out[name] = set(labels)
    return out


def exported_series(workdir: Path) -> dict[str, Series]:
    """Every series name the services expose, by name."""
    from tools.asyncapi import create_services

    inbox = workdir / "inbox"
    inbox.mkdir(exist_ok=True)
    out: dict[str, Series] = {}
    for service in create_services(workdir, ingest_sources=[inbox]).values():
        declared = _declared_labels(service.registry)
        for family in service.registry.collect():
            for suffix in SUFFIXES.get(family.type, ("",)):
                out.setdefault(family.name + suffix, Series()).labels.update(declared.get(family.name, ()))
            if family.type == "histogram":
                out[family.name + "_bucket"].labels.add("le")
            for sample in family.samples:
                series = out.setdefault(sample.name, Series())
                series.labels.update(sample.labels)
                series.samples.append(dict(sample.labels))
    return out
