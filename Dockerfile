# msgcenter's container image. compose.yaml runs it with PostgreSQL and Redis; the README
# ("Run it in a container") says how. Two stages: the first makes a venv with exactly
# requirements-runtime.lock (the runtime part of requirements.lock: the same versions and
# hashes, no dev tools, no build system) and msgcenter itself; the second is the slim base
# with that venv, run by a user of its own. tests/test_container.py checks what a linter
# cannot (the lock installed, the user, the health check, the settings named here).

FROM python:3.11-slim-trixie AS build

# The uv that the Makefile pins (UV_VERSION there).
ARG UV_VERSION=0.13.9
ENV UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

WORKDIR /src

# The dependencies first: this layer stays cached while only msgcenter's code changes. Every
# package is checked against its hash; the two that come as source only (dkimpy, pyspf) are
# built with requirements.lock's setuptools and wheel, checked by hash too.
COPY requirements.lock requirements-runtime.lock ./
RUN uv venv --python /usr/local/bin/python3 /opt/msgcenter \
    && uv pip sync --python /opt/msgcenter/bin/python --require-hashes \
        --build-constraints requirements.lock requirements-runtime.lock

# msgcenter itself (its packages as pyproject.toml lists them), without dependencies: they
# are all installed above. Built with the same pinned setuptools.
COPY pyproject.toml README.md LICENSE ./
COPY msgcenter/ msgcenter/
COPY connectors/ connectors/
COPY handoff/ handoff/
COPY bot/ bot/
COPY storage/ storage/
COPY dashboard_api/ dashboard_api/
RUN uv pip install --python /opt/msgcenter/bin/python --no-deps \
        --build-constraints requirements.lock .


FROM python:3.11-slim-trixie

LABEL org.opencontainers.image.title="msgcenter" \
      org.opencontainers.image.description="Customer-service message center: Telegram, WhatsApp and email, a bot, and human agents" \
      org.opencontainers.image.licenses="MIT"

# A system user of its own, without a login shell; /data, the volume, is its own (0700).
RUN groupadd --system --gid 10001 msgcenter \
    && useradd --system --uid 10001 --gid msgcenter --no-create-home --home-dir /data \
        --shell /usr/sbin/nologin msgcenter \
    && install -d -o msgcenter -g msgcenter -m 0700 /data

COPY --from=build /opt/msgcenter /opt/msgcenter
COPY config.toml /etc/msgcenter/config.toml

# What differs in a container (each can be overridden): listen on the container's
# interfaces, keep the data in /data (SQLite too, unless MSGCENTER_STORAGE__URL names
# PostgreSQL). No secret is set here: MSGCENTER_AUTH__JWT_SECRET comes from the environment,
# or a key is generated into /data/jwt_secret on first start and kept in the volume.
ENV PATH=/opt/msgcenter/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MSGCENTER_CONFIG=/etc/msgcenter/config.toml \
    MSGCENTER_SERVER__HOST=0.0.0.0 \
    MSGCENTER_CHANNELS__EMAIL__HOST=0.0.0.0 \
    MSGCENTER_STORAGE__DATA_DIR=/data \
    MSGCENTER_STORAGE__URL=sqlite:///data/msgcenter.db

WORKDIR /data
# By number (msgcenter:msgcenter), so the runtime can tell it is not root without the
# image's /etc/passwd (Kubernetes' runAsNonRoot).
USER 10001:10001
VOLUME ["/data"]

# The console, the API and the providers' webhooks; the SMTP server (when channels.email
# is enabled).
EXPOSE 8000 2525

# Healthy while GET /healthz answers 200 ("ok", or "degraded" while the event bus
# reconnects); 503 (the database, the disk) or no answer counts as a failure. Start-up
# applies the migrations first, hence the start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MSGCENTER_SERVER__PORT', '8000') + '/healthz', timeout=4)"]

# `serve` applies pending migrations before it listens, so a new image upgrades the
# database on its first start. Other commands: docker compose exec msgcenter msgcenter --help
ENTRYPOINT ["msgcenter"]
CMD ["serve"]
