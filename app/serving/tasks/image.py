"""What every task that takes image uploads shares: its model input (the side uploads may be
reduced to, the images it accepts, its preprocessing) and its endpoints, ``POST /{path}`` for one
image and ``POST /{path}/batch`` for several, built for each task from what its class declares
(``path``, ``answer_model``, ``options``, ``job``, ``answer``). A task adds its own routes in
:meth:`ImageTask.add_routes`.

Each request is checked against its model's capacity before the upload is read and takes its
place once it has arrived (``app.serving.admission``); the upload is decoded and preprocessed in
the decode pool, then joins the model's batcher.
"""

# No ``from __future__ import annotations``: the endpoints' signatures name each task's types,
# which FastAPI reads from the annotations at run time.

from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Depends, Request, UploadFile
from PIL import Image
from pydantic import BaseModel
from torch import Tensor

from app.serving.admission import image_task_router, model_dependency, reserve_images
from app.serving.deps import ImagesDep
from app.serving.intake import BATCH_DESCRIPTION, IMAGE_FILE, DecodedImage, PreparedImage
from app.serving.served import ServedModel
from app.serving.tasks.base import JobT, ResultT, ServedTask
from models.data.images import InputLimits


def no_options() -> None:
    """A task whose requests take no options of their own."""


class ImageTask(ServedTask[JobT, ResultT]):
    """A served task whose requests upload images (see the module)."""

    path: ClassVar[str]  # the endpoints: /{path} and /{path}/batch
    tag: ClassVar[str]  # their OpenAPI tag
    summary: ClassVar[str]
    description: ClassVar[str]
    batch_summary: ClassVar[str]
    answer_model: ClassVar[type[BaseModel]]  # one image's answer
    batch_answer_model: ClassVar[type[BaseModel]]  # {"results": [answer, ...]}
    # A FastAPI dependency: the request's own options (query parameters), given to job().
    options: ClassVar[Callable[..., Any]] = staticmethod(no_options)

    @property
    def decode_side(self) -> int:
        """The shortest side an upload needs (it may be reduced down to it)."""
        raise NotImplementedError

    @property
    def input_limits(self) -> InputLimits:
        """The smallest and most elongated image the model takes."""
        raise NotImplementedError

    def preprocess(self, image: Image.Image) -> Tensor:
        """An upright RGB image -> the model input the batch runner takes."""
        raise NotImplementedError

    def job(self, prepared: PreparedImage, options: Any) -> JobT:
        """One image's work for :meth:`run_batch`, with the request's options."""
        raise NotImplementedError

    def answer(
        self, model: str, decoded: DecodedImage, result: ResultT, options: Any = None
    ) -> BaseModel:
        """One image's answer (``answer_model``) from its result and the request's options."""
        raise NotImplementedError

    @classmethod
    def routes(cls) -> APIRouter:
        router = image_task_router(cls, cls.tag)
        cls.add_routes(router)
        cls.add_batch_route(router)
        return router

    @classmethod
    def add_routes(cls, router: APIRouter) -> None:
        """The task's routes besides the batch one: by default ``POST /{path}``."""
        model = model_dependency(cls)
        options = cls.options

        async def single(
            file: Annotated[UploadFile, IMAGE_FILE],
            served: Annotated[ServedModel, Depends(model)],
            images: ImagesDep,
            chosen: Annotated[Any, Depends(options)],
        ) -> Any:
            (found,) = await cls.serve(served, [await images.prepare(file, served.task)], chosen)
            return found

        cls._add(router, single, f"/{cls.path}", cls.path, cls.summary, cls.description)

    @classmethod
    def add_batch_route(cls, router: APIRouter) -> None:
        model = model_dependency(cls)
        options = cls.options

        async def batch(
            request: Request,
            file: Annotated[list[UploadFile], IMAGE_FILE],
            served: Annotated[ServedModel, Depends(model)],
            images: ImagesDep,
            chosen: Annotated[Any, Depends(options)],
        ) -> Any:
            prepared = await images.prepare_batch(
                file, served.task, lambda count: reserve_images(request, count)
            )
            return cls.batch_answer_model(results=await cls.serve(served, prepared, chosen))

        cls._add(
            router,
            batch,
            f"/{cls.path}/batch",
            f"{cls.path}_batch",
            cls.batch_summary,
            BATCH_DESCRIPTION,
            cls.batch_answer_model,
        )

    @classmethod
    async def serve(
        cls, served: ServedModel, prepared: Sequence[PreparedImage], options: Any
    ) -> list[BaseModel]:
        """The answers for ``prepared`` images, through the model's batcher."""
        task = served.task
        results = await served.run([task.job(image, options) for image in prepared])
        return [
            task.answer(served.name, image.decoded, result, options)
            for image, result in zip(prepared, results, strict=True)
        ]

    @classmethod
    def _add(
        cls,
        router: APIRouter,
        endpoint: Callable[..., Any],
        path: str,
        name: str,
        summary: str,
        description: str,
        response_model: type[BaseModel] | None = None,
        **extra: Any,
    ) -> None:
        endpoint.__name__ = name  # the operation id: what generated clients call
        router.post(
            path,
            summary=summary,
            description=description,
            response_model=response_model or cls.answer_model,
            **extra,
        )(endpoint)
