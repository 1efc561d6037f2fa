# A tensorflow/serving-compatible image of `tfsctl serve`, for machines that cannot pull
# tensorflow/serving. Same ports (8500 gRPC, 8501 REST), same MODEL_NAME / MODEL_BASE_PATH
# entrypoint behaviour, extra arguments passed through to the server.
# Built by scripts/build_image.sh on a local base image (no registry needed).
ARG BASE=tfsctl/base:bookworm
FROM ${BASE}

ARG PIP_INDEX_URL=
ARG PIP_EXTRA_INDEX_URL=
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PIP_CERT=/etc/ssl/certs/build-ca.crt

# The build machine's CA bundle, so pip reaches the package index as the machine does.
COPY build-ca.crt /etc/ssl/certs/build-ca.crt

# The heavy, rarely changing layer first: TensorFlow and the serving protos.
RUN python3 -m venv /opt/tfsctl \
 && /opt/tfsctl/bin/pip install -q "tensorflow-cpu==2.21.*" \
 && /opt/tfsctl/bin/pip install -q --no-deps "tensorflow-serving-api==2.21.*"

COPY src/ /src/
RUN /opt/tfsctl/bin/pip install -q /src && rm -rf /src /root/.cache

COPY entrypoint.sh /usr/bin/tf_serving_entrypoint.sh
RUN chmod 0755 /usr/bin/tf_serving_entrypoint.sh && mkdir -p /models

ENV MODEL_NAME=model MODEL_BASE_PATH=/models PATH=/opt/tfsctl/bin:$PATH \
    TF_CPP_MIN_LOG_LEVEL=2 PIP_CERT=
EXPOSE 8500 8501
USER 65532:65532
ENTRYPOINT ["/usr/bin/tf_serving_entrypoint.sh"]
