# d2l-serve on a GPU host: `docker compose up` (see docker-compose.yml).
# Installs exactly as `make install` does and starts the same server as `make run`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 d2l

WORKDIR /srv/d2l-serve

# Dependencies first, in their own layer (torch is gigabytes): rebuilt only when
# pyproject.toml changes, not on every code change.
COPY pyproject.toml Makefile README.md ./
RUN mkdir app models && touch app/__init__.py models/__init__.py && make install

COPY app ./app
COPY models ./models
COPY weights ./weights
RUN chown -R d2l:d2l /srv/d2l-serve

USER d2l
ENV D2L_DEVICE=auto
EXPOSE 8000
CMD [".venv/bin/python", "-m", "app.server", "--host", "0.0.0.0", "--port", "8000"]
