"""A task's healthcheck: true only when every model of its model.config is AVAILABLE.

TF Serving's `/v1/models/NAME` answers 200 while a version is still LOADING, so
the check reads each model's status and requires every version it lists to be
AVAILABLE, and every version the config names (a `specific` policy's versions, a
label's version) to be among them: a version whose directory is still being
exported is not listed at all, and a task must not take traffic before it serves
it. It runs inside the server's image, which may be the official
`tensorflow/serving` (bash, no curl, no python): so it is bash alone, talking
HTTP/1.0 to the task's own REST port through bash's /dev/tcp and matching the
JSON with bash's regular expressions.
"""

from __future__ import annotations

#: bash -c SCRIPT health REST_PORT MODEL_CONFIG; prints why it failed (docker inspect shows it)
SCRIPT = r"""
port=$1 config=$2 names=() name=
declare -A named
[[ -r $config ]] || { echo "cannot read $config"; exit 1; }
while IFS= read -r line || [[ -n $line ]]; do
  if [[ $line =~ ^[[:space:]]*name:[[:space:]]*\"([^\"]+)\" ]]; then
    name=${BASH_REMATCH[1]} names+=("$name")
  elif [[ -n $name && $line =~ ^[[:space:]]*(versions|value):[[:space:]]*([0-9]+) ]]; then
    named[$name]+=" ${BASH_REMATCH[2]}"
  fi
done < "$config"
((${#names[@]})) || { echo "no model in $config"; exit 1; }
for name in "${names[@]}"; do
  exec 3<>"/dev/tcp/127.0.0.1/$port" || { echo "REST port $port refused"; exit 1; }
  printf 'GET /v1/models/%s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$name" >&3
  reply=
  while IFS= read -r -u 3 line || [[ -n $line ]]; do reply+=$line; done
  exec 3<&-
  [[ $reply =~ ^HTTP/1\.[01]\ 200 ]] || { echo "$name: ${reply:0:200}"; exit 1; }
  rest=$reply count=0
  while [[ $rest =~ \"state\"[[:space:]]*:[[:space:]]*\"([A-Z_]+)\"(.*) ]]; do
    [[ ${BASH_REMATCH[1]} == AVAILABLE ]] || { echo "$name: a version is ${BASH_REMATCH[1]}"; exit 1; }
    rest=${BASH_REMATCH[2]} count=$((count + 1))
  done
  ((count)) || { echo "$name: no version"; exit 1; }
  for version in ${named[$name]:-}; do
    field='[[:space:]]*:[[:space:]]*'
    loaded="\"version\"$field\"$version\"[[:space:]]*,[[:space:]]*\"state\"$field\"AVAILABLE\""
    [[ $reply =~ $loaded ]] || { echo "$name: version $version is not loaded yet"; exit 1; }
  done
done
echo "AVAILABLE: ${names[*]}"
""".strip()


def health_command(rest_port: int, model_config: str) -> tuple[str, ...]:
    """The healthcheck as an exec command (no shell of the engine's in between)."""
    return ("bash", "-c", SCRIPT, "health", str(rest_port), model_config)
