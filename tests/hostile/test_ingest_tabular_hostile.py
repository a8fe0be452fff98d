"""Ten megabytes of lines in two encodings are decoded in time (moved from tests/unit/test_ingest_tabular.py:
a 10 MB input and a timed assertion)."""

from __future__ import annotations

from services.ingest.core.decoding import decode_lines


def test_decoding_a_large_mixed_file_is_fast() -> None:
    import time

    utf8 = "NL-1;03-01-2023;Côte d’Ivoire;5A001j;Bewakingssysteem;Politie;100;Verleend\n".encode()
    cp1252 = "NL-2;03-01-2023;Türkei;5A001j;Überwachung;Politie;100;Verleend\n".encode("cp1252")
    data = (utf8 + cp1252) * 70_000  # ~10 MB
    start = time.perf_counter()
    decoded = decode_lines(data)
    assert time.perf_counter() - start < 2.0
    assert decoded.mixed and len(decoded.fallback_lines) == 70_000 and not decoded.replaced_lines
