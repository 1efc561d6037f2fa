#!/bin/sh
# Same behaviour as tensorflow/serving's /usr/bin/tf_serving_entrypoint.sh: serve
# ${MODEL_BASE_PATH}/${MODEL_NAME} on 8500 (gRPC) and 8501 (REST); extra arguments are
# passed through (e.g. --model_config_file=/models/model.config, which then takes
# precedence over --model_name/--model_base_path, as in TF Serving).
#
# `exec`: the server replaces this shell as PID 1, so `docker stop`'s SIGTERM reaches it
# directly and it shuts down cleanly instead of being killed after the timeout.
set -e
exec python3 -m tfsctl.serve --port=8500 --rest_api_port=8501 \
  --model_name="${MODEL_NAME}" --model_base_path="${MODEL_BASE_PATH}/${MODEL_NAME}" "$@"
