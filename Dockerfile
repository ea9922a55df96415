# Production image for the web (daphne) and worker (celery) services.
FROM python:3.11-slim
# Production by default: DEBUG off, so the process refuses to start without a real SECRET_KEY.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DEBUG=0
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# A throwaway key for this build step only (not kept in the image).
RUN SECRET_KEY=collectstatic-only-build-step-key-not-used-at-run-time DEBUG=0 python manage.py collectstatic --noinput
RUN useradd --system --uid 1000 app && chown -R app /app
USER app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --retries=6 CMD ["python", "-m", "ops.probe", "http://127.0.0.1:8000/healthz"]
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "config.asgi:application"]
