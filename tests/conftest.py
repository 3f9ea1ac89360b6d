from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from hypothesis import settings
from PIL import Image

from app.core.config import Settings
from app.main import create_app
from app.serving.tasks.catalog import TASKS
from models.manifest import sha256_of
from tests.data import check_data

# Torch's first calls are slow, so no per-example deadline; enough examples to find edge cases,
# the same ones on every run (derandomized: a failure in CI is one anybody can replay).
settings.register_profile("default", deadline=None, max_examples=60, derandomize=True)
# `pytest --hypothesis-profile=thorough tests/models`: hunts edge cases before they reach CI.
settings.register_profile("thorough", deadline=None, max_examples=3000, derandomize=False)
settings.load_profile("default")


# Every app and server the tests start warms its models up on 4 images, not 32: quicker loads;
# what a warm-up checks (finite outputs, a batch through the model) is the same.
os.environ.setdefault("D2L_WARM_UP_BATCH", "4")


@pytest.fixture(scope="session", autouse=True)
def state_dir(tmp_path_factory) -> Path:
    """Every app the tests start keeps data sets, jobs and versions in this run's own folder,
    never in the checkout's state/."""
    folder = tmp_path_factory.mktemp("state")
    os.environ["D2L_STATE_DIR"] = str(folder)
    return folder


def pytest_runtest_setup(item: pytest.Item) -> None:
    check_data(item)


@pytest.fixture
def make_client(tmp_path: Path):
    """Build the real app with chosen settings and run its lifespan until models are loaded."""
    clients: list[TestClient] = []

    def make(tasks=None, raise_server_exceptions=True, **overrides) -> TestClient:
        app = create_app(Settings(**overrides), tasks=tasks or TASKS)
        # raise_server_exceptions=False: see the 500 a client gets instead of the exception.
        client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
        client.__enter__()
        clients.append(client)
        # Generous: loading and warming up every model of the manifest on a busy machine.
        assert app.state.registry.loaded.wait(timeout=600), "models did not finish loading"
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def committed_client():
    """The app as `make run` starts it, on the committed manifest, started once per test run
    (per pytest-xdist worker): for tests that change no state."""
    with TestClient(create_app(Settings())) as client:
        assert client.app.state.registry.loaded.wait(timeout=600), "models did not load"
        yield client


@pytest.fixture
def client(committed_client) -> TestClient:
    """The run's app on the committed manifest (:func:`committed_client`)."""
    return committed_client


@pytest.fixture(scope="session")
def live_server() -> Iterator[str]:
    """``python -m app.server`` on the committed manifest, ready (every model loaded and warm),
    shared by the run's browser, client and fuzz tests: its base URL."""
    from bench.server import running_server  # noqa: PLC0415 - only the integration tier

    with running_server(timeout=600) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def keyed_client():
    """Apps on the committed manifest with keys set (``api_key``, ``admin_key``), one per set of
    keys for the whole run: ``keyed_client(admin_key="k")``."""
    clients: dict[tuple, TestClient] = {}

    def make(**keys: str) -> TestClient:
        key = tuple(sorted(keys.items()))
        if key not in clients:
            client = TestClient(create_app(Settings(**keys)))
            client.__enter__()
            assert client.app.state.registry.loaded.wait(timeout=600), "models did not load"
            clients[key] = client
        return clients[key]

    yield make
    for client in clients.values():
        client.__exit__(None, None, None)


@pytest.fixture
def write_manifest(tmp_path: Path):
    def write(models: list[dict]) -> Path:
        path = tmp_path / "manifest.json"
        path.write_text(json.dumps({"version": 2, "models": models}))
        return path

    return write


COLOURS = {"blue": (30, 60, 220), "green": (40, 200, 60), "red": (220, 40, 40)}


def write_colour_folder(root: Path, per_class: dict[str, int], seed: int = 0) -> Path:
    """A tiny ImageFolder set: photos-like noise tinted by the class colour, of varied sizes
    and formats (JPEG mostly, one PNG and one GIF per split)."""
    generator = torch.Generator().manual_seed(seed)
    for split, count in per_class.items():
        for label, colour in COLOURS.items():
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                width, height = (int(v) for v in torch.randint(20, 64, (2,), generator=generator))
                noise = torch.randint(-60, 60, (height, width, 3), generator=generator)
                pixels = (torch.tensor(colour) + noise).clamp(0, 255).to(torch.uint8).numpy()
                image = Image.fromarray(pixels)
                suffix = {0: "png", 1: "gif"}.get(index, "jpg")
                image.save(folder / f"{index:03d} {label}.{suffix}")
    return root


@pytest.fixture(scope="session")
def colour_folder(tmp_path_factory) -> Path:
    return write_colour_folder(tmp_path_factory.mktemp("colours"), {"train": 24, "val": 4})


@pytest.fixture(scope="session")
def colour_classifier(tmp_path_factory, colour_folder: Path) -> Path:
    """A ResNet-18 trained by the project's training command on the colour set (seconds).

    The recipe is chosen to end at validation accuracy 1.0 whatever the CPU's kernels (checked
    over seeds 0-7 with AVX-512 and with ``ATEN_CPU_CAPABILITY=avx2``; since augmentation draws
    per example, again over seeds 0-7 on an AVX2 CPU, no AVX-512 one at hand): from scratch, a few
    dozen steps, a one-cycle schedule so the weights and BatchNorm's running statistics settle.
    Tests that read its answers rely on that; the check below says so plainly if it ever fails.
    """
    from models.train import classify  # noqa: PLC0415 - trains only when a test asks
    from models.train.config import ClassifyConfig  # noqa: PLC0415

    output = tmp_path_factory.mktemp("classifier") / "colours.safetensors"
    config = ClassifyConfig(
        data=str(colour_folder), stem="cifar", epochs=6, batch_size=8, lr=0.005,
        schedule="onecycle", head_lr_mult=1, input_size=16, output=output, no_progress=True,
    )  # fmt: skip
    accuracy = classify.train(config).metrics["val_accuracy"]
    assert accuracy == 1.0, f"the colour classifier fixture did not learn (val accuracy {accuracy})"
    return output


@pytest.fixture
def colour_weights(tmp_path: Path, colour_classifier: Path) -> Path:
    """A copy of the colour classifier in the folder of the tests' manifests (checkpoints must
    lie in the manifest's folder)."""
    copy = tmp_path / "colours.safetensors"
    shutil.copyfile(colour_classifier, copy)
    return copy


@pytest.fixture
def colour_manifest(write_manifest, colour_weights: Path) -> Path:
    """A manifest serving the colour classifier as ``colours``."""
    return write_manifest(
        [
            {
                "name": "colours",
                "task": "classify",
                "file": colour_weights.name,
                "sha256": sha256_of(colour_weights),
                "architecture": "resnet18",
                "classes": ["blue", "green", "red"],
                "input_size": 16,
                "metrics": {"val_accuracy": 1.0, "epochs": [{"epoch": 1}]},
            }
        ]
    )


@pytest.fixture
def colour_client(make_client, colour_manifest: Path) -> TestClient:
    return make_client(manifest_path=colour_manifest, default_classify_model="colours")
