# One image for web, workers and beat. TORCH_INDEX picks the build: the CPU wheel index for web/cpu
# workers, a CUDA index (e.g. .../whl/cu128) for the gpu worker image.
FROM python:3.11-slim-bookworm
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg espeak-ng gcc libc6-dev curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
RUN pip install "pip>=24" && pip install --index-url "$TORCH_INDEX" torch==2.13.0 && pip install -e .
COPY . .
# Collected where the running containers look for them (STATIC_ROOT in .env.example).
RUN DJANGO_DEBUG=1 STATIC_ROOT=/srv/static python manage.py collectstatic --noinput
RUN useradd --create-home app && mkdir -p /srv/media /srv/static && chown -R app /srv /app
USER app
EXPOSE 8000
CMD ["gunicorn", "--chdir", "platform", "config.wsgi", "--bind", "0.0.0.0:8000"]
