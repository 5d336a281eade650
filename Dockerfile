FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DEBUG=true SECRET_KEY=build-only python manage.py collectstatic --noinput
RUN useradd --system --home /app groundstation && chown -R groundstation /app/var
USER groundstation
EXPOSE 8000
# web by default; the compose file runs the same image as worker and beat.
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--workers", "4", "--no-proxy-headers", "--no-access-log", "--lifespan", "off"]
