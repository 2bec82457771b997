#!/bin/sh
# The image's build steps, kept in one script so they run the same in `docker build` (see
# Dockerfile) and on a plain machine (`sh deploy/install.sh /tmp/image-check`), where no Docker
# daemon is available: CI-like machines can still prove the steps work.
#
#   sh deploy/install.sh PREFIX     # a venv at PREFIX with infra-assets and its pinned stack
set -eu
PREFIX=${1:-/opt/infra-assets}
HERE=$(cd "$(dirname "$0")/.." && pwd)
python3 -m venv "$PREFIX"
"$PREFIX/bin/pip" install --no-cache-dir --upgrade pip >/dev/null
# The project with the PostgreSQL extra (Dagster's storage on Kubernetes is PostgreSQL).
"$PREFIX/bin/pip" install --no-cache-dir "$HERE[postgres]"
"$PREFIX/bin/pip" install --no-cache-dir "dagster-k8s==0.29.27"
# Fail the build, not the first run, when something is missing: import the code location, check
# the packaged model's files and the definitions, exactly as the code server will.
INFRA_ASSETS_SOURCES="$HERE/data/sources.example.yaml" INFRA_ASSETS_DATA_DIR="${TMPDIR:-/tmp}/infra-assets-build-check" \
  "$PREFIX/bin/python" -c "
import infra_assets.definitions as d, dagster_k8s, dagster_postgres
from infra_assets.index.embedding import get_embedder
repo = d.defs.get_repository_def()
dim = len(get_embedder('default').embed_query('build check'))  # verifies the model's sha256 too
# The int8 query graph, derived now into \$XDG_CACHE_HOME (the image sets it under the prefix)
# so the serving API does not derive it at every container start.
graph = get_embedder('default', threads=1, queries=True).graph
print('build check: %d assets, %d sensors, %d schedules; packaged model answers with %d dimensions; queries: %s' % (
    len(list(repo.asset_graph.get_all_asset_keys())), len(repo.sensor_defs), len(repo.schedule_defs), dim, graph))
"
