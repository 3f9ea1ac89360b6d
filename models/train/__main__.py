"""``python -m models.train classify|detect|word2vec ...``: run a training script by kind."""

from __future__ import annotations

import sys

from models.train import classify, detect, word2vec

COMMANDS = {"classify": classify, "detect": detect, "word2vec": word2vec}


def run(argv: list[str]) -> None:
    if not argv or argv[0] not in COMMANDS:
        names = ", ".join(COMMANDS)
        sys.exit(f"usage: python -m models.train {{{names}}} [options]  (--help after a name)")
    command = COMMANDS[argv[0]]
    parser = command.get_args_parser()
    parser.prog = f"python -m models.train {argv[0]}"
    command.main(parser.parse_args(argv[1:]))


if __name__ == "__main__":
    run(sys.argv[1:])
