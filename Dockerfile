# One image for every Casetrail service; SERVICE picks which one a container runs.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml ./
COPY shared shared
COPY services services
RUN pip install --no-cache-dir . && useradd --uid 10001 --no-create-home casetrail
COPY config config
COPY web/app web/app
COPY scripts/container-entrypoint.sh scripts/
ENV PSYCOPG_WAIT_FUNC=wait_select \
    PYTHONWARNINGS="ignore::Warning:nameko.cli.commands,ignore::Warning:nameko.containers" \
    PYTHONUNBUFFERED=1
USER 10001
ENTRYPOINT ["/app/scripts/container-entrypoint.sh"]
