"""The sources file: which feeds, licence data and folders ingest reads, and how often.

```yaml
sources:
  - name: amnesty-en                 # unique; shown in metrics and dead letters
    url: https://www.amnesty.org/en/feed/
    interval: 15m
    language: en                     # optional: when the feed does not say
  - name: uk-caat
    path: data/caat/                 # a file or a folder: new and changed files are picked up
    format: caat
  - name: nl-cdiu
    url: https://example.org/dual-use-2026.csv
    format: csv
    interval: 1d
    mapping: {authority: "NL CDIU", licensing_country: NL, columns: {destination: Land}}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import yaml
from pydantic import Field, ValidationError, model_validator

from services.common.config import Seconds, StrictConfig
from services.common.yamlsafe import CONSTRUCTOR_ERRORS, DepthLimitedLoader, expanded_size, unreadable_value
from services.ingest.core.adapters import BY_FORMAT, FORMATS
from services.ingest.core.tabular_mapping import CsvMapping


class SourceSpec(StrictConfig):
    """One configured source (unknown keys are errors that suggest the closest known one)."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    url: str | None = Field(default=None, pattern=r"^https?://", description="HTTP(S) URL, polled.")
    path: Path | None = Field(default=None, description="A file, or a folder watched for files.")
    format: str = Field(
        default="auto",
        description="Parser: one of "
        + ", ".join(FORMATS)
        + "; auto picks by file suffix or HTTP content type.",
    )
    interval: Seconds | None = Field(
        default=None, description="Seconds between polls; defaults per kind from the service settings."
    )
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    mapping: CsvMapping | None = Field(default=None, description="Column mapping of a csv source.")
    ratings: Path | None = Field(default=None, description="CAAT ratings.csv: descriptions of codes.")
    enabled: bool = True

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.url is None) == (self.path is None):
            raise ValueError(f"source {self.name!r}: give exactly one of url and path")
        if self.format not in FORMATS:
            raise ValueError(
                f"source {self.name!r}: format {self.format!r} is not one of {', '.join(FORMATS)}"
            )
        needs_mapping = self.format != "auto" and BY_FORMAT[self.format].needs_mapping
        if needs_mapping and self.mapping is None:
            raise ValueError(f"source {self.name!r}: format {self.format} needs a mapping of its columns")
        if self.mapping is not None and not needs_mapping:
            raise ValueError(f"source {self.name!r}: a mapping is only used with format csv")
        return self

    @property
    def location(self) -> str:
        return self.url or str(self.path)


class SourcesFile(StrictConfig):
    sources: list[SourceSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        seen: set[str] = set()
        for spec in self.sources:
            if spec.name in seen:
                raise ValueError(f"source name {spec.name!r} is used twice")
            seen.add(spec.name)
        return self


class SourcesError(ValueError):
    """The sources file cannot be used; the message says where and why."""


_MAX_VALUES = 100_000
_MAX_PROBLEMS = 20
_MAX_DEPTH = 100


class _Loader(DepthLimitedLoader):
    """yaml.safe_load's loader, refusing documents nested deeper than any sources file is."""

    max_depth = _MAX_DEPTH


def load_sources(path: Path) -> list[SourceSpec]:
    """Read and validate a sources file; relative paths are taken from the file's folder."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}  # noqa: S506 - safe
    except (OSError, yaml.YAMLError) as exc:
        raise SourcesError(f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SourcesError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except RecursionError:
        raise SourcesError(f"{path}: nested too deeply to be a sources file") from None
    except CONSTRUCTOR_ERRORS as exc:
        raise SourcesError(f"{path}: invalid YAML: {unreadable_value(exc)}") from None
    if expanded_size(raw, _MAX_VALUES) > _MAX_VALUES:
        raise SourcesError(f"{path}: more than {_MAX_VALUES:,} values once YAML aliases are expanded")
    try:
        parsed = SourcesFile.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = "; ".join(
            f"{'.'.join(str(p)[:100] for p in err['loc']) or '(root)'}: {err['msg'][:200]}"
            for err in errors[:_MAX_PROBLEMS]
        )
        more = f"; and {len(errors) - _MAX_PROBLEMS} more" if len(errors) > _MAX_PROBLEMS else ""
        raise SourcesError(f"{path}: {problems}{more}") from None
    base = path.parent
    specs = []
    for spec in parsed.sources:
        update: dict[str, Path] = {}
        if spec.path is not None and not spec.path.is_absolute():
            update["path"] = base / spec.path
        if spec.ratings is not None and not spec.ratings.is_absolute():
            update["ratings"] = base / spec.ratings
        specs.append(spec.model_copy(update=update) if update else spec)
    return specs
