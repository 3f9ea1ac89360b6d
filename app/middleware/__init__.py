"""ASGI middleware: access keys, body limits, request observation."""
