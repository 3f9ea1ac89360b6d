"""``python -m models.train classify|detect|word2vec ...``: run a training task by kind."""

from __future__ import annotations

import sys

from models.train.cli import run

if __name__ == "__main__":
    run(sys.argv[1:])
