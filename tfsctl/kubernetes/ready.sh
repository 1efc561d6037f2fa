# Is this TensorFlow Serving ready? A Kubernetes exec probe in bash alone: the official
# tensorflow/serving image has bash but no curl or python, so it speaks HTTP/1.0 over
# bash's /dev/tcp and reads TF Serving's REST status (GET /v1/models/NAME), which answers
# 200 while a version is still LOADING, so the state of each version is what counts.
#
#   bash ready.sh                  every model in ready.models has each version listed
#                                  there AVAILABLE (no versions listed: one is AVAILABLE)
#   bash ready.sh --serving M...   each model M that ready.models still lists has a version
#                                  AVAILABLE (a pod keeps serving while a new version loads)
#
# ready.models: one line per model, "NAME [VERSION...]". Environment:
# TFSCTL_PROBE_HOST (127.0.0.1), TFSCTL_PROBE_PORT (8501), TFSCTL_PROBE_MODELS (ready.models
# beside this script). Exits 0 when ready, 1 with the reason on stdout when not.
set -u
host=${TFSCTL_PROBE_HOST:-127.0.0.1}
port=${TFSCTL_PROBE_PORT:-8501}
here=${BASH_SOURCE[0]%/*}
[[ $here == "${BASH_SOURCE[0]}" ]] && here=.
models_file=${TFSCTL_PROBE_MODELS:-$here/ready.models}

# states MODEL: sets `states` to " VERSION:STATE ..." from the REST status; 1 unless 200.
states() {
  local reply body chunk state_re='"state":"([A-Z_]+)"'
  states=""
  exec 3<>"/dev/tcp/$host/$port" || return 1
  printf 'GET /v1/models/%s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$1" "$host" >&3
  IFS= read -r -d '' -t 10 -u 3 reply
  exec 3<&-
  [[ $reply =~ ^HTTP/1\.[01]\ 200 ]] || return 1
  body=${reply#*$'\r\n\r\n'}
  body=${body//[[:space:]]/}
  while [[ $body == *'"version":"'* ]]; do
    body=${body#*'"version":"'}
    chunk=${body%%'}'*}
    [[ $chunk =~ $state_re ]] && states+=" ${chunk%%'"'*}:${BASH_REMATCH[1]}"
  done
  return 0
}

# expected MODEL: succeeds when ready.models lists MODEL.
expected() {
  local name rest
  while read -r name rest || [[ -n $name ]]; do
    [[ $name == "$1" ]] && return 0
  done <"$models_file"
  return 1
}

not_ready() {
  echo "not ready: $*"
  exit 1
}

[[ -r $models_file ]] || not_ready "cannot read $models_file"
if [[ ${1:-} == --serving ]]; then
  shift
  for model in "$@"; do
    expected "$model" || continue
    states "$model" || not_ready "model $model: no status from $host:$port"
    [[ $states == *:AVAILABLE* ]] || not_ready "model $model: no version AVAILABLE ($states )"
  done
  exit 0
fi
while read -r model versions || [[ -n $model ]]; do
  [[ -n $model && $model != '#'* ]] || continue
  states "$model" || not_ready "model $model: no status from $host:$port"
  if [[ -z $versions ]]; then
    [[ $states == *:AVAILABLE* ]] || not_ready "model $model: no version AVAILABLE ($states )"
  fi
  for version in $versions; do
    [[ $states == *" $version:AVAILABLE"* ]] ||
      not_ready "model $model: version $version is not AVAILABLE ($states )"
  done
done <"$models_file"
exit 0
