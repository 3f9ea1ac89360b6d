"""word2vec benchmark: queries and training, ours next to gensim's, in the same run.

- Queries: the ``/similar`` path in process (``WordVectors.similar``, what the endpoint runs)
  vs gensim's ``KeyedVectors.most_similar`` on the very same vectors; then HTTP latency
  percentiles of ``GET /similar`` against a uvicorn server started here, one client at a time
  and with 16 concurrent clients.
- Training: our skip-gram and CBOW (d2l's settings, 5 epochs) vs gensim's ``Word2Vec`` on the
  same corpus (PTB's training text without ``<unk>``) and settings; tokens/s and wall time.
- Quality: the neighbours of probe words from each model, side by side with the book's.

    python -m bench.word2vec [--queries 2000] [--skip-training]

gensim is a bench-only dependency (`pip install -e '.[bench]'`; `make bench` installs it).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import torch
from gensim.models import KeyedVectors, Word2Vec

from bench.server import ROOT, load_test, machine, percentile, running_server, write_result
from models.data.ptb import read_ptb
from models.text.vocab import UNK
from models.text.word_vectors import WordVectors, read_word_vectors
from models.train import word2vec as train_word2vec
from models.train.config import Word2VecConfig

PROBES = ("chip", "monday", "january", "buy", "intel")
BOOK = {"chip": "microprocessor 0.702, mips 0.649, intel 0.643 (another run: intel 0.727, "
        "microprocessor 0.691, motorola 0.674)"}  # fmt: skip


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=ROOT / "weights")
    parser.add_argument("--queries", type=int, default=2_000, help="query words per timing")
    parser.add_argument("--http-requests", type=int, default=1_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--skip-training", action="store_true", help="time queries only")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "word2vec.json")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def keyed_vectors(embedding: torch.Tensor, tokens: list[str]) -> KeyedVectors:
    """The same vectors as a gensim KeyedVectors (without <unk>, which we never answer)."""
    kv = KeyedVectors(vector_size=embedding.shape[1])
    kv.add_vectors(tokens[1:], embedding[1:].numpy())
    kv.fill_norms()
    return kv


def time_queries(words: list[str], query) -> dict:
    query(words[0])  # warm-up
    latencies = []
    for word in words:
        start = time.perf_counter()
        query(word)
        latencies.append((time.perf_counter() - start) * 1e6)
    total_seconds = sum(latencies) / 1e6
    return {
        "queries_per_second": round(len(words) / total_seconds),
        "mean_us": round(float(np.mean(latencies)), 1),
        "p50_us": round(percentile(latencies, 50), 1),
        "p99_us": round(percentile(latencies, 99), 1),
    }


def train_ours(arch: str, epochs: int, seed: int, folder: Path) -> tuple[dict, Path]:
    output = folder / f"{arch}.safetensors"
    config = Word2VecConfig(
        arch=arch, epochs=epochs, seed=seed, no_progress=True, output=output,
        checkpoint=folder / f"{arch}.pt",
    )  # fmt: skip
    started = time.perf_counter()
    metrics = train_word2vec.train(config).metrics
    return {
        "wall_seconds": round(time.perf_counter() - started, 1),
        "training_seconds": metrics["training_seconds"],
        "tokens_per_second": metrics["tokens_per_second"],
    }, output


def train_gensim(arch: str, epochs: int, seed: int) -> tuple[dict, KeyedVectors]:
    # d2l drops <unk> from the corpus before training; gensim drops words under min_count itself.
    sentences = [[t for t in line if t != UNK] for line in read_ptb("train")]
    started = time.perf_counter()
    model = Word2Vec(
        sentences,
        vector_size=100,
        window=5,
        min_count=10,
        sample=1e-4,
        negative=5,
        sg=1 if arch == "skipgram" else 0,
        epochs=epochs,
        workers=2,
        seed=seed,
    )
    seconds = time.perf_counter() - started
    words = sum(len(s) for s in sentences) * epochs
    return {
        "wall_seconds": round(seconds, 1),
        "raw_words_per_second": round(words / seconds),
    }, model.wv


def neighbours(query, word: str) -> str:
    return ", ".join(f"{w} {s:.3f}" for w, s in query(word)[:5])


def main(args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(args.seed)
    embedding, tokens, _ = read_word_vectors(args.weights / "word2vec-skipgram-ptb.safetensors")
    ours = WordVectors(embedding, tokens, torch.device("cpu"))
    theirs = keyed_vectors(embedding, tokens)
    words = [tokens[i] for i in rng.integers(1, len(tokens), size=args.queries)]
    query_ours = time_queries(words, lambda w: ours.similar(w, 10))
    query_gensim = time_queries(words, lambda w: theirs.most_similar(w, topn=10))
    same = sum(
        [n for n, _ in ours.similar(w, 10)] == [n for n, _ in theirs.most_similar(w, topn=10)]
        for w in words[:200]
    )
    result: dict = {
        "benchmark": "word2vec",
        "machine": machine(),
        "queries": {
            "ours": query_ours,
            "gensim": query_gensim,
            "ours_over_gensim": round(
                query_ours["queries_per_second"] / query_gensim["queries_per_second"], 2
            ),
            "same_top10_of_200": same,
        },
    }
    with running_server() as base_url:
        http_words = [tokens[i] for i in rng.integers(1, len(tokens), size=args.http_requests)]

        def similar(client: httpx.AsyncClient, index: int):
            return client.get("/similar", params={"word": http_words[index], "k": 10})

        result["http"] = [
            asyncio.run(load_test(base_url, similar, len(http_words), c)) for c in (1, 16)
        ]

    if not args.skip_training:
        result["training"], table = {}, {}
        with tempfile.TemporaryDirectory() as folder:
            for arch in ("skipgram", "cbow"):
                figures, path = train_ours(arch, args.epochs, args.seed, Path(folder))
                gensim_figures, gensim_vectors = train_gensim(arch, args.epochs, args.seed)
                ours_trained = WordVectors.load(path, torch.device("cpu"))
                result["training"][arch] = {"ours": figures, "gensim": gensim_figures}
                table[arch] = {
                    word: {
                        "ours": neighbours(lambda w, v=ours_trained: v.similar(w, 5), word),
                        "gensim": neighbours(
                            lambda w, v=gensim_vectors: v.most_similar(w, topn=5), word
                        ),
                    }
                    for word in PROBES
                }
        result["neighbours"] = table
        result["book"] = BOOK

    report(result)
    write_result(result, args.output)
    return result


def report(result: dict) -> None:
    queries = result["queries"]
    print("in-process /similar (k=10), same vectors:")
    for name in ("ours", "gensim"):
        q = queries[name]
        print(
            f"  {name:<7}{q['queries_per_second']:>9,} q/s  mean {q['mean_us']:>7.1f} us  "
            f"p50 {q['p50_us']:>7.1f} us  p99 {q['p99_us']:>7.1f} us"
        )
    print(
        f"  ours / gensim: {queries['ours_over_gensim']}x; "
        f"same top-10 on {queries['same_top10_of_200']} of 200 words"
    )
    for row in result["http"]:
        print(
            f"HTTP GET /similar, {row['concurrency']:>2} client(s): "
            f"{row['requests_per_second']:,} req/s, p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms"
        )
    for arch, figures in result.get("training", {}).items():
        ours, gensim = figures["ours"], figures["gensim"]
        print(
            f"training {arch}: ours {ours['wall_seconds']} s ({ours['tokens_per_second']:,} "
            f"tokens/s), gensim {gensim['wall_seconds']} s"
        )
    for arch, probes in result.get("neighbours", {}).items():
        print(f"neighbours ({arch}):")
        for word, pair in probes.items():
            print(f"  {word:>8} ours:   {pair['ours']}\n  {'':>8} gensim: {pair['gensim']}")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
