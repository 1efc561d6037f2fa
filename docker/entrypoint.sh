#!/bin/sh
# Same behaviour as tensorflow/serving's tf_serving_entrypoint.sh: serve
# ${MODEL_BASE_PATH}/${MODEL_NAME} on 8500/8501, extra arguments passed through
# (e.g. --model_config_file=/models/model.config, which then takes precedence).
exec python3 -m tfsctl.serve --port=8500 --rest_api_port=8501 \
  --model_name="${MODEL_NAME}" --model_base_path="${MODEL_BASE_PATH}/${MODEL_NAME}" "$@"
