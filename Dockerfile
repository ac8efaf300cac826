# One image for every process of billecta-sync; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml constraints.txt README.md ./
COPY billecta_sync ./billecta_sync
COPY webhook_gateway ./webhook_gateway
COPY workers ./workers
COPY taskqueue ./taskqueue
COPY cli ./cli
COPY devstack ./devstack
COPY sandbox ./sandbox
COPY beat_schedule.py ./
RUN pip install --no-cache-dir -c constraints.txt ".[postgres]"
RUN useradd --create-home billecta && chown -R billecta /app
USER billecta
EXPOSE 8000
CMD ["gunicorn", "webhook_gateway.wsgi:app", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4", "--worker-class", "gthread"]
