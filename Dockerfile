# One image for both roles: `python -m server` (the default) and `python -m server.worker`.
#
# No registry is needed: BASE is any image with Debian's python3 (3.11, like bookworm's) —
# e.g. one made with debootstrap and `docker import` (see README, "Docker") — and Assay
# comes from a wheelhouse built on the host, so `docker build` needs no network:
#
#   .venv/bin/python -m pip download --no-deps --dest wheelhouse pip
#   /usr/bin/python3 wheelhouse/pip-*.whl/pip wheel --wheel-dir wheelhouse .   # the base's python3 resolves
#   docker build --network none --build-arg BASE=assay-base:bookworm -t assay .
ARG BASE=assay-base:bookworm

FROM ${BASE} AS install
COPY wheelhouse/ /wheels/
# A venv keeps Assay's packages apart from Debian's python (which refuses pip installs, PEP 668).
# It is made without pip (Debian's python3 has no ensurepip unless python3-venv is installed):
# the pip wheel from the wheelhouse installs Assay, and itself, into the venv.
RUN python3 -m venv --without-pip /opt/assay \
 && PIP_WHEEL="$(ls /wheels/pip-*.whl | head -n 1)" \
 && /opt/assay/bin/python "$PIP_WHEEL/pip" install --no-index --find-links /wheels \
        --no-cache-dir --disable-pip-version-check --quiet pip assay \
 && /opt/assay/bin/python -c "import server.app, services.jobs"

FROM ${BASE}
# An imported base image has no PATH of its own, so spell out the whole one.
ENV PATH=/opt/assay/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    ASSAY_HOST=0.0.0.0 \
    ASSAY_PORT=8000 \
    ASSAY_DATA_DIR=/data \
    MPLCONFIGDIR=/tmp/matplotlib
RUN groupadd --system --gid 10001 assay \
 && useradd --system --uid 10001 --gid assay --home-dir /home/assay --create-home --shell /usr/sbin/nologin assay \
 && mkdir -p /data \
 && chown assay:assay /data
COPY --from=install /opt/assay /opt/assay
# Shared by every replica and worker of a deployment (uploads, Parquet copies, models, reports).
VOLUME /data
WORKDIR /home/assay
USER assay
EXPOSE 8000
# 503 (database unreachable) or no answer makes urlopen raise, and the check fail.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('ASSAY_PORT', '8000'), timeout=4)"]
CMD ["python", "-m", "server"]
