#!/usr/bin/env bash
# A Debian bookworm base image with python3 and venv, made locally for hosts that cannot pull
# from Docker Hub: mmdebstrap builds the root file system from Debian's packages and the engine
# imports it. Usage: deploy/base-image.sh [TAG]   (root, or a user mmdebstrap's unshare mode allows)
set -euo pipefail
tag=${1:-localhost/d2l-base:bookworm}
engine=${ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}
mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates bookworm - \
    | "$engine" import - "$tag" >/dev/null
echo "$tag"
