"""The KServe (ServingRuntime, InferenceService) and Kubeflow (PyTorchJob) manifests: valid
against the CRDs' schemas (`crd_check`, offline), and wired the way stylex needs them."""

from __future__ import annotations

import pytest

from tests.k8s import crd_check
from tests.k8s.test_manifests import (
    K8S_DIR,
    K8S_VERSION,
    _load_yaml,
    env,
    needs_kubectl,
    one,
    render,
)

KSERVE = K8S_DIR / "kserve"
PYTORCHJOB = K8S_DIR / "jobs" / "train-pytorchjob"


def runtime() -> dict:
    return one(tuple(_load_yaml(KSERVE / "servingruntime.yaml")), "ServingRuntime")


def isvc() -> dict:
    return one(tuple(_load_yaml(KSERVE / "inferenceservice.yaml")), "InferenceService")


def pytorchjob() -> dict:
    return one(tuple(_load_yaml(PYTORCHJOB / "pytorchjob.yaml")), "PyTorchJob")


# -- the check can fail ----------------------------------------------------------------------
def test_the_crd_check_catches_unknown_fields_types_and_missing_required_ones():
    assert crd_check.validate(runtime(), K8S_VERSION) == []
    doc = isvc()
    doc["spec"]["predictor"]["model"]["storageURI"] = doc["spec"]["predictor"]["model"].pop(
        "storageUri"
    )
    assert crd_check.validate(doc, K8S_VERSION) == [
        "InferenceService.spec.predictor.model: unknown field 'storageURI' of V1beta1ModelSpec"
    ]
    doc = isvc()
    del doc["spec"]["predictor"]["model"]["modelFormat"]
    assert crd_check.validate(doc, K8S_VERSION) == [
        "InferenceService.spec.predictor.model: missing required field 'modelFormat'"
    ]
    doc = isvc()
    doc["spec"]["predictor"]["minReplicas"] = "one"
    assert crd_check.validate(doc, K8S_VERSION) == [
        "InferenceService.spec.predictor.minReplicas: 'one' is not a int"
    ]
    # Kubernetes types inside a custom resource get the strict core schema.
    doc = runtime()
    doc["spec"]["containers"][0]["imagee"] = "x"
    (problem,) = crd_check.validate(doc, K8S_VERSION)
    assert problem.startswith("ServingRuntime.spec.containers[0]") and "'imagee'" in problem
    doc = pytorchjob()
    doc["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["resources"][
        "limits"
    ]["cpu"] = ["16"]
    assert len(crd_check.validate(doc, K8S_VERSION)) == 1
    assert crd_check.validate({"apiVersion": "x/v1", "kind": "Y"}, K8S_VERSION) == [
        "no schema for x/v1 Y"
    ]


@pytest.mark.parametrize("doc", [runtime(), isvc(), pytorchjob()], ids=lambda d: d["kind"])
def test_custom_resources_as_written_are_valid(doc):
    assert crd_check.validate(doc, K8S_VERSION) == []


@needs_kubectl
@pytest.mark.parametrize("kustomization", ["kserve", "jobs/train-pytorchjob"])
def test_rendered_custom_resources_are_valid(kustomization):
    docs = render(kustomization)
    custom = [d for d in docs if (d["apiVersion"], d["kind"]) in crd_check.ROOTS]
    assert custom
    for doc in custom:
        assert crd_check.validate(doc, K8S_VERSION) == [], doc["kind"]


# -- wiring ----------------------------------------------------------------------------------
@needs_kubectl
def test_kserve_runtime_serves_both_protocols_and_is_ready_on_the_oip_endpoint():
    docs = render("kserve")
    rt, svc = one(docs, "ServingRuntime"), one(docs, "InferenceService")
    (c,) = rt["spec"]["containers"]
    assert c["name"] == "kserve-container"
    args = c["args"]
    assert args[0] == "serve" and args[args.index("--model") + 1] == "/mnt/models"
    assert args[args.index("--address") + 1] == "0.0.0.0:8081"
    assert args[args.index("--http-port") + 1] == "8080"
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http1": 8080, "h2c": 8081}
    assert c["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert c["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8080}
    assert {"v2", "grpc-v2"} <= set(rt["spec"]["protocolVersions"])
    assert env(c)["STYLEX_METRICS_ADDRESS"] == "0.0.0.0"

    model = svc["spec"]["predictor"]["model"]
    assert model["runtime"] == rt["metadata"]["name"]
    formats = {(f["name"], f["version"]) for f in rt["spec"]["supportedModelFormats"]}
    assert (model["modelFormat"]["name"], model["modelFormat"]["version"]) in formats
    assert model["protocolVersion"] == "v2"
    assert c["image"].startswith("registry.example.com/stylex:")


@needs_kubectl
def test_pytorchjob_runs_the_multinode_script_on_every_replica():
    docs = render("jobs/train-pytorchjob")
    job = one(docs, "PyTorchJob")
    claims = {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
    specs = job["spec"]["pytorchReplicaSpecs"]
    assert set(specs) == {"Master", "Worker"} and specs["Master"]["replicas"] == 1
    templates = [specs[r]["template"]["spec"] for r in ("Master", "Worker")]
    assert templates[0] == templates[1], "Master and Worker run the same pod"
    pod = templates[0]
    (c,) = pod["containers"]
    assert c["name"] == "pytorch"
    script = c["args"][0]
    for needed in ('--nnodes "$WORLD_SIZE"', '--node_rank "$RANK"', '--master_addr "$MASTER_ADDR"',
                   '--nproc_per_node "$NUM_GPUS"', "-m stylex train", "$RESUME"):  # fmt: skip
        assert needed in script, needed
    assert int(env(c)["NUM_GPUS"]) == c["resources"]["limits"]["nvidia.com/gpu"]
    used = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
            if "persistentVolumeClaim" in v}  # fmt: skip
    assert used == claims
    # The same pod as the Indexed Job's (the two launchers differ only in who sets the ranks).
    multinode = one(render("jobs/train-multinode"), "Job")["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == [v["name"] for v in multinode["volumes"]]
    (mc,) = multinode["containers"]
    assert c["volumeMounts"] == mc["volumeMounts"] and c["resources"] == mc["resources"]
    assert env(c)["TRAIN_ARGS"] == env(mc)["TRAIN_ARGS"]


def test_the_crd_type_tables_name_their_source():
    import json

    for path in sorted(crd_check.CRD_TYPES.glob("*.json")):
        table = json.loads(path.read_text())
        assert table["source"].endswith(".whl") and len(table["classes"]) > 20
    for root in crd_check.ROOTS.values():
        assert root in crd_check.custom_classes(), root
