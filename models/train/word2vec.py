"""Train word2vec (skip-gram or CBOW, negative sampling) on the Penn Treebank.

    python -m models.train word2vec --arch skipgram --epochs 5 --embed-size 100 \\
        --output weights/word2vec-skipgram-ptb.safetensors
    # several processes: torchrun --standalone --nproc_per_node=N -m models.train word2vec ...

Writes the servable vectors (safetensors: vocabulary, input embeddings, arguments, metrics,
neighbours of probe words) and, next to them, a training checkpoint (``.pt``: model,
optimizer, epoch, arguments) that ``--resume`` continues from.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.data.hub import DATA_HUB, sha1_of
from models.data.ptb import SPLITS, read_ptb
from models.device import describe_device
from models.text.sampling import build_corpus, context_windows, noise_weights, subsample
from models.text.vocab import Vocab
from models.text.word2vec import ARCHS, Word2Vec, make_examples, masked_bce_loss
from models.text.word_vectors import WordVectors, save_word_vectors
from models.train import distributed
from models.train.distributed import Runtime
from models.train.engine import (
    batch_starts,
    command_line,
    list_in_manifest,
    plain_args,
    resume,
    run_summary,
    save_checkpoint,
)

NOT_RECORDED = frozenset({"data", "resume", "no_progress", "checkpoint"})
DEFAULT_BATCH = 512
PROBES = ("chip", "intel", "monday", "january", "buy", "stock", "president", "bank")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train word2vec with negative sampling on the Penn Treebank.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--arch", choices=ARCHS, default="skipgram")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="ptb.zip or a folder with ptb.<split>.txt (default: $D2L_DATA_DIR/ptb/ptb.zip, "
        "the download cache, then d2l's data hub)",
    )
    parser.add_argument("--split", choices=SPLITS, default="train")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--embed-size", type=int, default=100)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH,
        help="examples per step over all processes (under torchrun each takes its share)",
    )
    parser.add_argument("--lr", type=float, default=0.002, help="Adam learning rate")
    parser.add_argument("--max-window", type=int, default=5, help="largest context window")
    parser.add_argument("--num-noise", type=int, default=5, help="noise words per true pair")
    parser.add_argument("--min-freq", type=int, default=10, help="rarer words become <unk>")
    parser.add_argument("--subsample", type=float, default=1e-4, help="t of the subsampling")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="the servable vectors (default: runs/word2vec-<arch>-ptb.safetensors)",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="training checkpoint written each epoch (default: runs/<output name>.pt)",
    )
    parser.add_argument("--resume", type=Path, default=None, help="a training checkpoint (.pt)")
    parser.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="also list the vectors in this manifest (e.g. weights/manifest.json)",
    )
    parser.add_argument("--name", default=None, help="model name in the manifest")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    distributed.add_arguments(parser, batchnorm=False)
    return parser


def main(args: argparse.Namespace) -> dict[str, Any]:
    runtime = distributed.start(args.device)
    info = train(args, runtime)
    runtime.close()
    return info


def train(args: argparse.Namespace, runtime: Runtime) -> dict[str, Any]:
    """The run on this process: every process draws the same examples of an epoch (from a
    generator seeded by seed and epoch) and trains on its share of each batch; rank 0 writes."""
    output = args.output or Path("runs") / f"word2vec-{args.arch}-ptb.safetensors"
    checkpoint_path = args.checkpoint or Path("runs") / f"{output.stem}.pt"
    torch.manual_seed(args.seed)
    device = runtime.device
    local_batch = runtime.local_batch(args.batch_size)

    sentences = read_ptb(args.split, args.data)
    vocab = Vocab(sentences, args.min_freq)
    corpus = build_corpus(sentences, vocab)
    probabilities = noise_weights(corpus.counts)
    model = Word2Vec(len(vocab), args.embed_size).to(device)
    lr = distributed.scaled_lr(args, DEFAULT_BATCH)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict[str, float]] = []
    if args.resume is not None:
        history = resume(args.resume, device, model, optimizer)
    trained = runtime.wrap(model)
    print(
        f"word2vec {args.arch}: {len(corpus):,} tokens, vocabulary {len(vocab):,}, on "
        f"{runtime.describe()}, {describe_device(device)}; batch {args.batch_size} = "
        f"{runtime.world_size} x {local_batch}, lr {lr:g} (scaling {args.lr_scaling})"
    )

    quiet = args.no_progress or not runtime.is_main
    for epoch in range(len(history), args.epochs):
        started = time.perf_counter()
        rng = np.random.default_rng([args.seed, epoch])  # the same on every process
        windows = context_windows(subsample(corpus, args.subsample, rng), args.max_window, rng)
        examples = make_examples(args.arch, windows, args.num_noise, probabilities, rng)
        if device.type != "cpu":
            examples = examples.to(device)  # one copy per epoch, not one per batch
        order = torch.tensor(runtime.shard(len(examples), args.seed, epoch))
        order = order.to(examples.inputs.device)
        total_loss, seen = 0.0, 0
        batches = batch_starts(len(order), local_batch, epoch, args.epochs, quiet, unit="batch")
        for start in batches:
            batch = examples.batch(order[start : start + local_batch]).to(device)
            logits = trained(batch.inputs, batch.input_mask, batch.targets)
            loss = masked_bce_loss(logits, batch.labels, batch.mask)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(batch)
            seen += len(batch)
            if start // local_batch % 50 == 0:
                rate = seen * runtime.world_size / (time.perf_counter() - started)
                batches.set_postfix(loss=f"{total_loss / seen:.3f}", tokens_per_s=f"{rate:,.0f}")
        total_loss, seen = runtime.sum([total_loss, seen])
        seconds = time.perf_counter() - started
        history.append(
            {
                "epoch": epoch + 1,
                "loss": round(total_loss / seen, 4),
                "tokens": int(seen),
                "seconds": round(seconds, 3),
                "tokens_per_second": round(seen / seconds),
            }
        )
        print(f"epoch {epoch + 1}: loss {total_loss / seen:.3f}, {seen / seconds:,.0f} tokens/s")
        if runtime.is_main:
            save_checkpoint(checkpoint_path, model, optimizer, args, history)
    if not runtime.is_main:
        return runtime.share(None)

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
        "arch": args.arch,
        "args": plain_args(args),
        "command": reproducing_command(args, output, runtime),
        "data": _data_source(args),
        "device": describe_device(device),
        "world_size": runtime.world_size,
        "distributed": runtime.record(args, lr, DEFAULT_BATCH),
        "metrics": metrics,
        "probes": probes,
    }
    save_word_vectors(output, model.input_embedding.weight, vocab.idx_to_token, info)
    list_in_manifest(
        args.manifest,
        args.name or output.stem,
        "word2vec",
        output,
        vocab_size=len(vocab),
        embed_size=args.embed_size,
        architecture=args.arch,
        config=info["args"],
        **{key: value for key, value in info.items() if key not in {"arch", "args"}},
    )
    for word, neighbours in probes.items():
        print(f"{word:>10}: " + ", ".join(f"{n} {s:.3f}" for n, s in neighbours))
    print(f"wrote {output} and {checkpoint_path}")
    return runtime.share(info)


def reproducing_command(args: argparse.Namespace, output: Path, runtime: Runtime) -> str:
    """The command that reproduces this run, every option spelled out and the output named."""
    recorded = argparse.Namespace(**{**vars(args), "output": output})
    return command_line("word2vec", recorded, NOT_RECORDED, runtime.launcher())


def _data_source(args: argparse.Namespace) -> dict[str, str]:
    archive = DATA_HUB["ptb"]
    if args.data is not None and args.data.is_dir():
        text = next(args.data.glob(f"**/ptb.{args.split}.txt"))
        return {"file": text.name, "sha1": sha1_of(text)}
    return {"file": f"{archive.file}:ptb/ptb.{args.split}.txt", "sha1": archive.sha1}
