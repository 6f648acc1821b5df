#!/usr/bin/env bash
# The eventraft end-to-end test on kind (Kubernetes in Docker):
#   1. create a kind cluster (test/e2e/kind/kind-config.yaml);
#   2. build the image (and its e2e target) and load both into kind;
#   3. validate the chart's objects and the samples server-side with strict field validation;
#   4. helm install the chart with an example RaftCluster, wait for it, run `helm test`;
#   5. apply the samples: the 3-node managed-Redis one runs and passes a smoke test;
#   6. run the end-to-end scenario as a Job in the cluster (test/e2e/scenario.ts: create 3,
#      scale 3 -> 5 -> 3, rolling config change, leader pod killed, a client writing all along,
#      nothing lost, quorum never lost, status truthful, delete);
#   7. helm uninstall; delete the kind cluster (also on failure, after printing diagnostics).
#
# Needs docker, kind, kubectl and helm (v3.14+ or v4) on PATH. Environment:
#   KIND_CLUSTER_NAME  (default eventraft-e2e)   KEEP_CLUSTER=1  keep the cluster at the end
#   HELM               helm binary (default helm; `node scripts/fetch-helm.ts` prints one)
set -euo pipefail
cd "$(dirname "$0")/../../.."

CLUSTER="${KIND_CLUSTER_NAME:-eventraft-e2e}"
HELM="${HELM:-helm}"
RELEASE_NS=eventraft-system
IMAGE=eventraft:e2e
E2E_IMAGE=eventraft-e2e:e2e
VALUES=test/e2e/kind/values.yaml
WORK="$(mktemp -d)"
started=$SECONDS

step() { printf '\n=== [%4ds] %s\n' "$((SECONDS - started))" "$*"; }

for tool in docker kind kubectl "$HELM"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "run.sh: $tool is required on PATH" >&2; exit 2; }
done

diagnostics() {
  step "diagnostics"
  kubectl get raftclusters -A -o wide || true
  kubectl get pods,pvc -A -o wide || true
  kubectl -n "$RELEASE_NS" logs deployment/eventraft --tail=200 || true
  kubectl -n e2e logs job/e2e-scenario --tail=200 || true
  kubectl get events -A --sort-by=.lastTimestamp | tail -80 || true
}

cleanup() {
  local rc=$?
  [ "$rc" -eq 0 ] || diagnostics
  if [ "${KEEP_CLUSTER:-0}" != 1 ]; then kind delete cluster --name "$CLUSTER" || true; fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

# Waits until a RaftCluster reports phase Running.
wait_running() { # namespace name timeout
  kubectl -n "$1" wait "raftcluster/$2" --for=jsonpath='{.status.phase}'=Running --timeout="$3"
}

step "create the kind cluster $CLUSTER"
kind create cluster --name "$CLUSTER" --config test/e2e/kind/kind-config.yaml --wait 180s

step "build the images and load them into kind"
docker build -t "$IMAGE" .
docker build --target e2e -t "$E2E_IMAGE" .
kind load docker-image "$IMAGE" "$E2E_IMAGE" --name "$CLUSTER"

step "validate the chart's objects server-side (strict: unknown fields are errors)"
kubectl create namespace "$RELEASE_NS"
kubectl apply --server-side -f charts/eventraft/crds/
kubectl wait crd/raftclusters.eventraft.io --for=condition=Established --timeout=60s
"$HELM" template eventraft charts/eventraft --namespace "$RELEASE_NS" --values "$VALUES" > "$WORK/rendered.yaml"
kubectl apply --dry-run=server --validate=strict -f "$WORK/rendered.yaml"

step "helm install (CRD already present: helm leaves it as is)"
"$HELM" install eventraft charts/eventraft --namespace "$RELEASE_NS" --values "$VALUES" --wait --timeout 5m
holder=""
for _ in $(seq 1 30); do
  holder="$(kubectl -n "$RELEASE_NS" get lease eventraft -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)"
  [ -n "$holder" ] && break
  sleep 2
done
[ -n "$holder" ] || { echo "no operator replica took the leader Lease" >&2; exit 1; }
echo "operator leader: $holder"


step "wait for the example RaftCluster, then helm test (append and read back)"
wait_running "$RELEASE_NS" example 10m
"$HELM" test eventraft --namespace "$RELEASE_NS" --logs --timeout 5m
kubectl -n "$RELEASE_NS" delete raftcluster example --wait --timeout=5m

step "apply the samples: all validate, the managed-Redis one runs and serves"
kubectl create namespace samples
kubectl -n samples apply --dry-run=server --validate=strict -f crds/samples/
kubectl -n samples apply --validate=strict -f crds/samples/raftcluster-3-managed-redis.yaml
wait_running samples orders 10m
kubectl -n samples get raftcluster orders -o wide
kubectl -n samples run smoke-test --image="$IMAGE" --image-pull-policy=Never --restart=Never --rm -i --quiet \
  -- smoke-test --url http://orders.samples.svc:8080 --timeout-ms 120000
kubectl -n samples delete raftcluster orders --wait --timeout=5m

step "the end-to-end scenario (a Job in the cluster)"
kubectl apply -f test/e2e/kind/scenario-job.yaml
kubectl -n e2e wait pod -l job-name=e2e-scenario --for=condition=Ready --timeout=120s || true
kubectl -n e2e logs -f job/e2e-scenario || true
for _ in $(seq 1 360); do
  succeeded="$(kubectl -n e2e get job e2e-scenario -o jsonpath='{.status.succeeded}')"
  failed="$(kubectl -n e2e get job e2e-scenario -o jsonpath='{.status.failed}')"
  [ -n "$succeeded$failed" ] && break
  sleep 5
done
kubectl -n e2e logs job/e2e-scenario --tail=1 > "$WORK/report.json"
echo "report: $(cat "$WORK/report.json")"
[ "${succeeded:-0}" = 1 ] || { echo "the scenario failed" >&2; exit 1; }

step "helm uninstall (the CRD and RaftCluster data stay, by design)"
"$HELM" uninstall eventraft --namespace "$RELEASE_NS" --wait --timeout 5m
kubectl get crd raftclusters.eventraft.io >/dev/null

step "passed in $((SECONDS - started)) s"
