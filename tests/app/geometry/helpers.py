"""Reading the 422 answers of /geometry."""

from __future__ import annotations


def errors(response) -> list[dict]:
    assert response.status_code == 422, response.text
    return response.json()["detail"]


def messages(response) -> str:
    return " | ".join(error["msg"] for error in errors(response))
