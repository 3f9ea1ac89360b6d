"""The naive peer: a FastAPI endpoint that decodes, transforms and runs the model once per
request (a sync endpoint, so FastAPI runs it in its thread pool).

    python -m bench.peers.naive_fastapi --model PATH --port 8001
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Annotated

import torch
import uvicorn
from fastapi import FastAPI, File, UploadFile

from bench.peers.common import DTYPES, load_model, read_image, top5


def create_app(model_path: Path, dtype: torch.dtype = torch.float32) -> FastAPI:
    model, classes, transform = load_model(model_path, dtype)
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.post("/classify")
    def classify(file: Annotated[UploadFile, File()]) -> dict:
        image = read_image(file.file.read())
        with torch.inference_mode():
            inputs = transform(image).unsqueeze(0).to(dtype)
            probabilities = model(inputs).float().softmax(dim=1)[0]
        return top5(probabilities, classes)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--dtype", choices=DTYPES, default="float32")
    args = parser.parse_args()
    app = create_app(args.model, DTYPES[args.dtype])
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
