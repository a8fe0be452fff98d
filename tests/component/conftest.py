"""The component layer: each service's real handlers and subscribers, as its create_service wires them,
on FastStream's in-memory TestKafkaBroker (no broker process, no network); tests/component/harness.py
runs them."""
