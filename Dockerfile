FROM python:3.11-slim

# Installs the way the README does (pip install of this repository), as a non-root user.
RUN useradd --create-home --uid 10001 gateway
WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
COPY clients/python ./clients/python
COPY emulator ./emulator
RUN pip install --no-cache-dir .

USER gateway
# The event log (and emulator state) go to a directory the non-root user owns.
ENV TASKROUTER_GATEWAY_GRPC_HOST=0.0.0.0 \
    TASKROUTER_GATEWAY_DATA_DIR=/home/gateway/data \
    TASKROUTER_GATEWAY_LOG_FORMAT=json
EXPOSE 50051
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import grpc, sys; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; s = g.HealthStub(grpc.insecure_channel('127.0.0.1:50051')).Check(h.HealthCheckRequest(), timeout=2); sys.exit(0 if s.status == h.HealthCheckResponse.SERVING else 1)"]
ENTRYPOINT ["taskrouter-gateway"]
CMD ["serve"]
