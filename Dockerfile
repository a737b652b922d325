# One image for every claw service; docker-compose.yml picks the command per service.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 claw
WORKDIR /app
COPY pyproject.toml README.md celeryconfig.py ./
COPY claw ./claw
RUN pip install --no-cache-dir '.[postgres]' || pip install --no-cache-dir .
COPY workspace ./workspace
RUN mkdir -p /app/var && chown -R claw /app/var /app/workspace
USER claw
ENV CLAW_HOME=/app/var CLAW_WORKSPACE=/app/workspace
CMD ["claw", "--help"]
