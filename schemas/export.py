"""Writes the JSON Schema of every bus message to ``schemas/jsonschema/``; a test keeps them current."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.events import Alert, DeadLetter, LicenceRecord, NewsArticle, Notification

SCHEMA_DIR = Path(__file__).parent / "jsonschema"
MODELS: dict[str, type[BaseModel]] = {
    "news_article": NewsArticle,
    "licence_record": LicenceRecord,
    "alert": Alert,
    "dead_letter": DeadLetter,
    "notification": Notification,
}


def render() -> dict[str, str]:
    """File name -> JSON text of every schema."""
    out: dict[str, str] = {}
    for name, model in MODELS.items():
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://exportwatch.org/schemas/{name}.v1.json"
        out[f"{name}.v1.json"] = json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    return out


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
