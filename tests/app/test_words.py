"""The word endpoints on the committed default checkpoints, trained on PTB by this project."""

from __future__ import annotations

import pytest

from app.core.config import REPO_ROOT
from models.manifest import read_manifest

MODELS = ["word2vec-skipgram-ptb", "word2vec-cbow-ptb"]
COMMITTED = {e.name: e for e in read_manifest(REPO_ROOT / "weights" / "manifest.json")}
CHIP_FAMILY = {"microprocessor", "intel", "mips", "motorola", "processor", "semiconductor"}
WEEKDAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
MONTHS = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
}  # fmt: skip


@pytest.fixture
def client(committed_client):
    """One app for the whole module: these requests change no state."""
    return committed_client


def top(client, word: str, model: str, k: int = 5) -> list[str]:
    response = client.get("/similar", params={"word": word, "k": k, "model": model})
    assert response.status_code == 200, response.text
    return [neighbor["word"] for neighbor in response.json()["neighbors"]]


@pytest.mark.parametrize("model", MODELS)
def test_chip_finds_the_chip_makers(client, model):
    assert len(set(top(client, "chip", model)) & CHIP_FAMILY) >= 2


@pytest.mark.parametrize("model", MODELS)
def test_common_sense_probes(client, model):
    assert len(set(top(client, "monday", model)) & WEEKDAYS) >= 2
    assert len(set(top(client, "january", model)) & MONTHS) >= 2
    assert "sell" in top(client, "buy", model)


def test_similar_answers_as_documented(client):
    body = client.get("/similar", params={"word": "Chip"}).json()
    assert body["word"] == "chip" and body["model"] == "word2vec-skipgram-ptb"
    scores = [neighbor["similarity"] for neighbor in body["neighbors"]]
    assert len(scores) == 10 and scores == sorted(scores, reverse=True)
    assert all(-1 <= score <= 1 for score in scores)
    assert not {"chip", "<unk>"} & {neighbor["word"] for neighbor in body["neighbors"]}
    assert len(client.get("/similar", params={"word": "chip", "k": 100}).json()["neighbors"]) == 100


def test_similarity_analogy_and_vocabulary(client):
    pair = client.get("/similarity", params={"a": "buy", "b": "SELL"}).json()
    assert pair["a"] == "buy" and pair["b"] == "sell" and 0.5 < pair["similarity"] <= 1
    analogy = client.get("/analogy", params={"a": "monday", "b": "tuesday", "c": "january", "k": 3})
    answers = [neighbor["word"] for neighbor in analogy.json()["neighbors"]]
    assert set(answers) & MONTHS and not {"monday", "tuesday", "january"} & set(answers)
    words = client.get("/vocabulary", params={"prefix": "chi", "limit": 20}).json()
    assert {"chip", "chips", "china"} <= set(words["words"])
    assert all(word.startswith("chi") for word in words["words"])
    assert words["vocabulary_size"] == 6_718  # 6,719 tokens less <unk>
    assert len(client.get("/vocabulary", params={"limit": 3}).json()["words"]) == 3


def test_an_unknown_word_is_404_with_close_spellings(client):
    response = client.get("/similar", params={"word": "chipz"})
    assert response.status_code == 404
    body = response.json()
    assert "'chipz' is not in the vocabulary" in body["detail"]
    assert body["suggestions"][:2] == ["chip", "chips"]
    assert client.get("/analogy", params={"a": "man", "b": "king", "c": "qqq"}).status_code == 404
    assert client.get("/similar", params={"word": "<unk>"}).status_code == 404


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        ({"word": ""}, 422, "at least 1 character"),
        ({"word": "   "}, 422, "the word is empty"),
        ({}, 422, "Field required"),
        ({"word": "chip", "k": 0}, 422, "greater than or equal to 1"),
        ({"word": "chip", "k": 101}, 422, "less than or equal to 100"),
        ({"word": "chip", "k": "ten"}, 422, "valid integer"),
        (
            {"word": "chip", "model": "nope"},
            404,
            "word2vec models: word2vec-cbow-ptb, word2vec-skipgram-ptb",
        ),
    ],
)
def test_bad_queries(client, params, status, text):
    response = client.get("/similar", params=params)
    assert response.status_code == status
    assert text in response.text


def test_a_model_that_failed_to_load_answers_503_and_the_others_serve(make_client, write_manifest):

    committed = {
        entry.name: entry for entry in read_manifest(REPO_ROOT / "weights" / "manifest.json")
    }
    good = committed["word2vec-skipgram-ptb"]
    manifest = write_manifest(
        [
            {
                "name": good.name,
                "task": "word2vec",
                "file": str(good.file),
                "sha256": good.sha256,
                "default": True,
            },
            {"name": "broken", "task": "word2vec", "file": str(good.file), "sha256": "0" * 64},
        ]
    )
    # The committed vectors stay where they are: the weights root is their folder.
    client = make_client(manifest_path=manifest, weights_root=REPO_ROOT / "weights")
    broken = client.get("/similar", params={"word": "chip", "model": "broken"})
    assert broken.status_code == 503
    assert "model 'broken' failed to load" in broken.json()["detail"]
    assert "does not match the manifest" in broken.json()["detail"]
    assert client.get("/similar", params={"word": "chip"}).status_code == 200
    assert client.get("/health/ready").status_code == 503


@pytest.mark.parametrize("name", MODELS)
def test_the_served_neighbours_are_the_ones_training_recorded(client, name):
    """Each probe word's five nearest words and similarities, as the training command wrote
    them in the manifest, are what /similar serves."""
    probes = COMMITTED[name].info["probes"]
    assert len(probes) >= 5
    for word, recorded in probes.items():
        response = client.get("/similar", params={"word": word, "k": 5, "model": name})
        served = [(n["word"], n["similarity"]) for n in response.json()["neighbors"]]
        assert [w for w, _ in served] == [w for w, _ in recorded], word
        assert [s for _, s in served] == pytest.approx([s for _, s in recorded], abs=0.0005)
