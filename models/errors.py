"""Domain errors raised by the model code; the web layer maps them to HTTP codes in one place."""

from __future__ import annotations


class InvalidInputError(ValueError):
    """An argument is malformed: wrong shape, out of range, not finite.

    A ``ValueError`` (as torchvision raises) so library users can catch it the usual way; the
    service answers it with 422 and the message, which names the bad value and how to fix it.

    Args:
        message: what is wrong and how to fix it.
        field: the argument at fault, when one is (the service reports it as the location).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
