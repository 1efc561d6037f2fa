# A tensorflow/serving-compatible image of `tfsctl serve`, for machines that cannot pull
# tensorflow/serving: same ports (8500 gRPC, 8501 REST), same MODEL_NAME / MODEL_BASE_PATH
# entrypoint behaviour, extra arguments passed through to the server, e.g.
#   docker run -p 8501:8501 -v $PWD/half_plus_two:/models/half_plus_two:ro \
#     -e MODEL_NAME=half_plus_two tfsctl/serve:dev
#   docker run ... tfsctl/serve:dev --model_config_file=/models/model.config
#
# Built by scripts/build_image.sh (never by hand: it prepares the build context) on a local
# Debian base image, so no registry is needed but the package index. Three stages, so that
# a change to tfsctl's source rebuilds seconds of work, not the 1.3 GB TensorFlow layer:
#   deps  - a venv with TensorFlow and tfsctl's dependencies;
#   wheel - tfsctl's own wheel, from the copied source;
#   final - the base, a non-root user, the venv, the wheel; no pip cache, no CA file,
#           no compilers or headers.
ARG BASE=tfsctl/base:bookworm

FROM ${BASE} AS deps
ARG TF_VERSION=2.21.*
# The index settings of the machine that builds (empty: pip's default index).
ARG PIP_INDEX_URL=
ARG PIP_EXTRA_INDEX_URL=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# The build machine's CA bundle, so pip reaches the index exactly as that machine does.
# Only this stage sees it; the final image does not contain it.
COPY build-ca.crt /build/ca.crt
COPY src/pyproject.toml /build/pyproject.toml
# TensorFlow's C++ headers (~290 MB) and libclang (~60 MB) are for building custom ops,
# never used by a server, so they are dropped.
RUN set -eu; \
    [ -n "${PIP_INDEX_URL:-}" ] || unset PIP_INDEX_URL; \
    [ -n "${PIP_EXTRA_INDEX_URL:-}" ] || unset PIP_EXTRA_INDEX_URL; \
    export PIP_CERT=/build/ca.crt; \
    python3 -c 'import tomllib; print("\n".join(tomllib.load(open("/build/pyproject.toml", "rb"))["project"]["dependencies"]))' \
      > /build/requirements.txt; \
    python3 -m venv /opt/tfsctl; \
    /opt/tfsctl/bin/pip install -q --upgrade pip; \
    /opt/tfsctl/bin/pip install -q "tensorflow-cpu==${TF_VERSION}" -r /build/requirements.txt; \
    /opt/tfsctl/bin/pip uninstall -q -y libclang; \
    rm -rf /opt/tfsctl/lib/python3*/site-packages/tensorflow/include /root/.cache; \
    TF_CPP_MIN_LOG_LEVEL=3 /opt/tfsctl/bin/python -c 'import tensorflow, grpc, pydantic, docker, uvicorn, httptools'

FROM deps AS wheel
ARG PIP_INDEX_URL=
ARG PIP_EXTRA_INDEX_URL=
COPY src/ /build/src/
RUN set -eu; \
    [ -n "${PIP_INDEX_URL:-}" ] || unset PIP_INDEX_URL; \
    [ -n "${PIP_EXTRA_INDEX_URL:-}" ] || unset PIP_EXTRA_INDEX_URL; \
    PIP_CERT=/build/ca.crt /opt/tfsctl/bin/pip wheel -q --no-deps -w /build/wheels /build/src

FROM ${BASE}
# A fixed non-root uid/gid (65532, as distroless' "nonroot"), so orchestrators that check
# runAsNonRoot accept the image and mounted model dirs need only be world-readable.
RUN set -eu; \
    groupadd --gid 65532 tfsctl; \
    useradd --uid 65532 --gid 65532 --home-dir /home/tfsctl --create-home --shell /usr/sbin/nologin tfsctl; \
    mkdir -p /models
COPY --from=deps /opt/tfsctl /opt/tfsctl
COPY --from=wheel /build/wheels /tmp/wheels
RUN PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
      /opt/tfsctl/bin/pip install -q --no-deps --no-index /tmp/wheels/*.whl \
 && rm -rf /tmp/wheels /root/.cache \
 && /opt/tfsctl/bin/python -c 'import tfsctl.serve.flags'
COPY entrypoint.sh /usr/bin/tf_serving_entrypoint.sh

# tensorflow/serving's variables and ports; TF_CPP_MIN_LOG_LEVEL keeps TensorFlow's C++
# start-up chatter out of the logs (set it to 0 to see it).
ENV MODEL_NAME=model MODEL_BASE_PATH=/models \
    PATH=/opt/tfsctl/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/tfsctl TF_CPP_MIN_LOG_LEVEL=2
EXPOSE 8500 8501
WORKDIR /home/tfsctl
USER 65532:65532
ENTRYPOINT ["/usr/bin/tf_serving_entrypoint.sh"]

ARG VCS_REF=unknown
LABEL org.opencontainers.image.title="tfsctl serve" \
      org.opencontainers.image.description="TensorFlow Serving-compatible model server (tfsctl serve)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${VCS_REF}"
