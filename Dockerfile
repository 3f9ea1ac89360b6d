# d2l-serve: `docker compose up` on a GPU host (docker-compose.yml); `make image-test` builds,
# runs and checks this image. The torch wheel is a CUDA 13.0 build: the host's NVIDIA driver
# must be 580 or newer (it runs on the CPU without one).
#
# BASE_IMAGE: any Debian-like image with python3 (3.11+) and its venv module, e.g. one built
# locally where Docker Hub is unreachable (deploy/base-image.sh).
ARG BASE_IMAGE=python:3.11-slim

# Build stage: the runtime dependencies (no dev, train or bench extras) in a virtual
# environment, copied whole into the final image, so no layer holds the install twice.
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# Package sources for hosts without PyPI (wheel folders, a local index, a proxy's CA), as
# deploy/image-test.sh passes them; empty means PyPI.
ARG PIP_FIND_LINKS=""
ARG PIP_EXTRA_INDEX_URL=""
ARG PIP_CERT=""
ARG PIP_CONSTRAINT=""
COPY pyproject.toml /tmp/pyproject.toml
RUN for name in PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_CERT PIP_CONSTRAINT; do \
        eval "[ -n \"\$$name\" ] || unset $name"; \
    done \
    && python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --quiet -r /tmp/requirements.txt \
    && find /opt/venv -name __pycache__ -prune -exec rm -rf {} +

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    D2L_DEVICE=auto
RUN useradd --system --uid 1000 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin d2l
# Owned by root and read-only to the service user: the code and weights cannot be changed by
# the process that serves them. (No chown or chmod after a COPY: that would copy the layer.)
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/d2l-serve
COPY app ./app
COPY models ./models
COPY weights ./weights
# Uploaded sets, training jobs and trained versions (a volume in docker-compose.yml).
RUN install -d -o d2l /srv/d2l-serve/state
ENV D2L_STATE_DIR=/srv/d2l-serve/state

USER d2l
EXPOSE 8000
# Healthy once every model is loaded and warmed up (a few seconds on a GPU, up to a minute or
# two on a CPU).
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4)"]
# docker stop sends SIGTERM: the service answers what it has queued, then exits.
STOPSIGNAL SIGTERM
CMD ["python3", "-m", "app.server", "--host", "0.0.0.0", "--port", "8000"]
