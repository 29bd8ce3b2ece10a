# One fieldrelay node. Build: docker build -t fieldrelay .   Run: docker run -p 8080:8080 fieldrelay
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . /app
# Editable on purpose: the node serves its pages from /app/web, beside the packages.
RUN pip install -e . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin fieldrelay \
    && mkdir -p /data \
    && chown fieldrelay:fieldrelay /data

USER fieldrelay
VOLUME ["/data"]
EXPOSE 8080

ENTRYPOINT ["fieldrelay"]
CMD ["serve", "--host", "0.0.0.0", "--data-dir", "/data"]
