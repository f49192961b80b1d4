#!/usr/bin/env bash
# Install Label Studio into its own venv (.venvs/label-studio), for the vendor round-trip tests.
# It pins its own Django and friends, so it never goes into alflow's venv. Idempotent: a venv
# that already has this version is left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=1.23.2
VENV=.venvs/label-studio
if [ -x "$VENV/bin/label-studio" ] \
  && [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("label-studio"))' 2>/dev/null)" = "$VERSION" ]; then
  echo "label-studio $VERSION already in $VENV"
  exit 0
fi
start=$(date +%s)
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "label-studio==$VERSION" 2>&1 \
  | grep -v "^WARNING: Location 'file://" || true
"$VENV/bin/python" -c "import label_studio" >/dev/null
echo "label-studio $VERSION installed in $VENV in $(( $(date +%s) - start )) s"
