"""The LitServe peer: the same model behind LitServe's ``LitAPI`` (setup / decode_request /
batch / predict / unbatch / encode_response), batching up to 8 requests for at most 10 ms, one
worker, as the issue sets it up.

    python -m bench.peers.litserve_server --model PATH --port 8002
"""

from __future__ import annotations

import argparse
from pathlib import Path

import litserve as ls
import torch

from bench.peers.common import DTYPES, load_model, read_image, top5


class ClassifierAPI(ls.LitAPI):
    def __init__(self, model_path: Path, dtype: torch.dtype = torch.float32, **options) -> None:
        super().__init__(**options)
        self.model_path = model_path
        self.dtype = dtype

    def setup(self, device: str) -> None:
        model, self.classes, self.transform = load_model(self.model_path, self.dtype)
        self.model = model.to(device)
        self.device = device

    def decode_request(self, request) -> torch.Tensor:
        return self.transform(read_image(request["file"].file.read()))

    def batch(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(inputs)

    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            logits = self.model(batch.to(self.device, self.dtype))
            return logits.float().softmax(dim=1).cpu()

    def unbatch(self, output: torch.Tensor) -> list[torch.Tensor]:
        return list(output)

    def encode_response(self, probabilities: torch.Tensor) -> dict:
        return top5(probabilities, self.classes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--dtype", choices=DTYPES, default="float32")
    args = parser.parse_args()
    api = ClassifierAPI(
        args.model,
        DTYPES[args.dtype],
        max_batch_size=8,
        batch_timeout=0.01,
        api_path="/classify",
    )
    server = ls.LitServer(api, accelerator=args.accelerator, workers_per_device=1, timeout=120)
    server.run(port=args.port, host="127.0.0.1", generate_client_file=False)


if __name__ == "__main__":
    main()
