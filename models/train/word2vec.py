"""Train word2vec (skip-gram or CBOW, negative sampling) on the Penn Treebank.

    python -m models.train word2vec --arch skipgram --epochs 5 --embed-size 100 \\
        --output weights/word2vec-skipgram-ptb.safetensors
    # several processes: torchrun --standalone --nproc_per_node=N -m models.train word2vec ...

Writes the servable vectors (safetensors: vocabulary, input embeddings, arguments, metrics,
neighbours of probe words) and, next to them, a training checkpoint (``.pt``: model,
optimizer, epoch, arguments) that ``--resume`` continues from. ``train(Word2VecConfig(...))``
runs the same from Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.data.hub import DATA_HUB, sha1_of
from models.data.ptb import read_ptb
from models.device import describe_device
from models.text.sampling import (
    Corpus,
    build_corpus,
    context_windows,
    noise_weights,
    subsample,
)
from models.text.vocab import Vocab
from models.text.word2vec import Word2Vec, make_examples, masked_bce_loss
from models.text.word_vectors import WordVectors, save_word_vectors
from models.train import distributed, engine
from models.train.config import Word2VecConfig
from models.train.distributed import Runtime
from models.train.engine import ProgressCallback, Step, TaskSteps, TrainResult
from models.train.records import command_line, list_in_manifest, run_summary

NOT_RECORDED = frozenset({"data", "resume", "no_progress", "checkpoint"})
PROBES = ("chip", "intel", "monday", "january", "buy", "stock", "president", "bank")


def train(config: Word2VecConfig, progress: ProgressCallback | None = None) -> TrainResult:
    """Train as ``config`` says, on this process or as one of torchrun's; raises
    :class:`~models.train.config.TrainingError` when the run cannot start."""
    return engine.launch(run, config, progress)


class Word2VecSteps(TaskSteps):
    """Each epoch draws its examples (subsampling, windows, noise words) from a generator
    seeded by (seed, epoch), the same on every process; the loss is the masked binary
    cross-entropy of negative sampling."""

    rate = "tokens_per_second"
    schedule_unit = "batch"

    def __init__(
        self,
        config: Word2VecConfig,
        trained: torch.nn.Module,
        corpus: Corpus,
        probabilities: torch.Tensor,
        runtime: Runtime,
    ) -> None:
        self.config, self.trained, self.runtime = config, trained, runtime
        self.corpus, self.probabilities = corpus, probabilities
        self.local_batch = runtime.local_batch(config.batch_size)

    def batches(self, epoch: int) -> Sequence[Any]:
        config, device = self.config, self.runtime.device
        rng = np.random.default_rng([config.seed, epoch])  # the same on every process
        windows = context_windows(
            subsample(self.corpus, config.subsample, rng), config.max_window, rng
        )
        examples = make_examples(config.arch, windows, config.num_noise, self.probabilities, rng)
        if device.type != "cpu":
            examples = examples.to(device)  # one copy per epoch, not one per batch
        order = torch.tensor(self.runtime.shard(len(examples), config.seed, epoch))
        order = order.to(examples.inputs.device)
        return _Batches(examples, order, self.local_batch)

    def step(self, batch: Any, epoch: int) -> Step:
        batch = batch.to(self.runtime.device)
        logits = self.trained(batch.inputs, batch.input_mask, batch.targets)
        return Step(masked_bce_loss(logits, batch.labels, batch.mask), len(batch))

    def epoch_figures(self, sums: dict[str, float], seen: float) -> dict[str, float]:
        return {"loss": round(sums["loss"] / seen, 4), "tokens": int(seen)}


class _Batches(Sequence[Any]):
    """An epoch's examples in this process's order, ``size`` at a time, cut when asked."""

    def __init__(self, examples: Any, order: torch.Tensor, size: int) -> None:
        self.examples, self.order, self.size = examples, order, size

    def __len__(self) -> int:
        return -(-len(self.order) // self.size)

    def __getitem__(self, index: Any) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.examples.batch(self.order[index * self.size : (index + 1) * self.size])


def run(
    config: Word2VecConfig, runtime: Runtime, progress: ProgressCallback | None = None
) -> TrainResult:
    """The run on this process: every process draws the same examples of an epoch and trains
    on its share of each batch; rank 0 writes."""
    output = config.output
    checkpoint = config.checkpoint or Path("runs") / f"{output.stem}.pt"
    torch.manual_seed(config.seed)
    device = runtime.device

    sentences = read_ptb(config.split, config.data)
    vocab = Vocab(sentences, config.min_freq)
    corpus = build_corpus(sentences, vocab)
    probabilities = noise_weights(corpus.counts)
    model = Word2Vec(len(vocab), config.embed_size).to(device)
    lr = distributed.scaled_lr(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = None
    if config.schedule != "constant":
        # at most one example per token, and one more batch for padding across processes
        steps_per_epoch = len(corpus) // config.batch_size + 2
        schedule = engine.make_schedule(config.schedule, optimizer, steps_per_epoch * config.epochs)
    state = engine.start_run(config, device, model, optimizer, schedule, checkpoint)
    steps = Word2VecSteps(config, runtime.wrap(model), corpus, probabilities, runtime)
    print(
        f"word2vec {config.arch}: {len(corpus):,} tokens, vocabulary {len(vocab):,}, "
        f"{runtime.describe_share(config, lr)}"
    )
    history = engine.fit(steps, state, config, runtime, progress)
    info = write_vectors(config, model, vocab, history, runtime, lr) if runtime.is_main else None
    info = runtime.share(info)
    return TrainResult(output, info["metrics"], history, None, info)


def write_vectors(
    config: Word2VecConfig,
    model: Word2Vec,
    vocab: Vocab,
    history: list[dict[str, Any]],
    runtime: Runtime,
    lr: float,
) -> dict[str, Any]:
    """The servable vectors (with their record and probe neighbours) and the manifest entry;
    returns the entry's fields."""
    vectors = WordVectors(
        model.input_embedding.weight.detach().cpu(), vocab.idx_to_token, torch.device("cpu")
    )
    probes = {
        word: [[neighbour, round(score, 3)] for neighbour, score in vectors.similar(word, 5)]
        for word in PROBES
        if word in vocab
    }
    metrics = {"final_loss": history[-1]["loss"], **run_summary(history, "tokens_per_second")}
    info = {
        "arch": config.arch,
        "args": engine.plain_args(config),
        "command": command_line("word2vec", config, NOT_RECORDED, runtime.launcher()),
        "data": _data_source(config),
        "device": describe_device(runtime.device),
        "world_size": runtime.world_size,
        "distributed": runtime.record(config, lr),
        "metrics": metrics,
        "probes": probes,
    }
    save_word_vectors(config.output, model.input_embedding.weight, vocab.idx_to_token, info)
    card = {key: value for key, value in info.items() if key not in {"arch", "args"}}
    card |= {"architecture": config.arch, "config": info["args"]}
    card |= {"vocab_size": len(vocab), "embed_size": config.embed_size}
    list_in_manifest(
        config.manifest, config.name or config.output.stem, "word2vec", config.output, **card
    )
    for word, neighbours in probes.items():
        print(f"{word:>10}: " + ", ".join(f"{n} {s:.3f}" for n, s in neighbours))
    print(f"wrote {config.output}")
    return card


def _data_source(config: Word2VecConfig) -> dict[str, str]:
    archive = DATA_HUB["ptb"]
    if config.data is not None and config.data.is_file() and config.data.suffix == ".txt":
        return {"file": config.data.name, "sha1": sha1_of(config.data)}
    if config.data is not None and config.data.is_dir():
        text = next(config.data.glob(f"**/ptb.{config.split}.txt"))
        return {"file": text.name, "sha1": sha1_of(text)}
    return {"file": f"{archive.file}:ptb/ptb.{config.split}.txt", "sha1": archive.sha1}
