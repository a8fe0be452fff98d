"""Reading YAML written by operators (sources, watchlists, subscriptions) without letting a hostile
file exhaust the stack, the CPU or the memory of a service."""

from __future__ import annotations

import yaml

# What PyYAML's constructors raise on values they resolve but cannot build: a date in month 13, an
# integer of 5,000 digits, an explicit "!!bool maybe" (KeyError) or "!!timestamp x".
CONSTRUCTOR_ERRORS: tuple[type[Exception], ...] = (ValueError, LookupError, AttributeError, OverflowError)


def unreadable_value(exc: Exception) -> str:
    """The problem of a value the loader raised one of CONSTRUCTOR_ERRORS for, for an error message."""
    return f"a value that cannot be read ({type(exc).__name__}: {str(exc)[:200]})"


class DepthLimitedLoader(yaml.SafeLoader):
    """The pure-Python SafeLoader, refusing documents nested deeper than ``max_depth`` levels. Subclass
    it and set ``max_depth`` per kind of file."""

    max_depth = 100
    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # Refused while reading, not after: on "[[[[…" the Python scanner slows down with the square of
        # the depth and took 2 s to reach the recursion limit.
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # untyped in the stubs
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {self.max_depth} levels", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def expanded_size(raw: object, limit: int) -> int:
    """How many values ``raw`` holds with YAML aliases expanded, counting no further than ``limit``:
    aliases let a few kilobytes stand for billions of values, which validation would walk one by one."""
    count, stack = 0, [raw]
    while stack and count <= limit:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return count
