#!/bin/bash
# Put the stagebox stage, with the stagebox source in its files/ folder, into a pi-gen
# folder, replacing any earlier copy:
#   image/prepare-stage.sh PIGEN_DIR
# The stage lands in PIGEN_DIR/stage-stagebox (the Docker build sees nothing outside
# pi-gen's folder). Used by build.sh and by tests/appliance/test_pigen_stage.py.
set -euo pipefail

pigen="${1:?usage: image/prepare-stage.sh PIGEN_DIR}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/.." && pwd)"

stage="$pigen/stage-stagebox"
rm -rf "$stage"
cp -r "$here/stage-stagebox" "$stage"
files="$stage/00-stagebox/files/stagebox"
mkdir -p "$files/image"
cp -r "$repo_root/pyproject.toml" "$repo_root/README.md" "$repo_root/stagebox" \
	"$repo_root/systemd" "$files/"
cp -r "$here/install.sh" "$here/stage-stagebox" "$files/image/"
find "$files" -name __pycache__ -prune -exec rm -rf {} +
