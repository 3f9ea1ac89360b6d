"""Reading the 422 answers of /geometry."""

from __future__ import annotations


def errors(response) -> list[dict]:
    assert response.status_code == 422, response.text
    answer = response.json()
    assert isinstance(answer["detail"], str) and answer["detail"], "a sentence, always"
    return answer["errors"]


def messages(response) -> str:
    return " | ".join(error["msg"] for error in errors(response))
