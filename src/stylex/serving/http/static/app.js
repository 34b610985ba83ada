// The explain page: pick, drop or choose a sample image; POST /v1/explain with the controls'
// values; show the prediction, the reconstruction, each counterfactual and the joint one.
// `/?sample=N` explains built-in sample N on load. No libraries, nothing fetched from outside.
"use strict";

const $ = (id) => document.getElementById(id);
let current = null; // the image being explained: a Blob
let info = null; // GET /v1/info
let pending = 0; // the latest request's number: older answers are dropped

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
  $("status").dataset.state = isError ? "error" : text === "" ? "done" : "busy";
}

function label(attribute) {
  const where = `${attribute.layer} ch ${attribute.channel}`;
  return attribute.label ? [attribute.label, where] : [where, `index ${attribute.index}`];
}

function probsText(probs) {
  return Object.entries(probs).map(([name, p]) => `P(${name}) ${p.toFixed(3)}`).join(", ");
}

function show(result) {
  $("summary").hidden = false;
  $("reconstruction").src = result.reconstruction;
  $("predicted").textContent = result.predicted;
  $("target_name").textContent = result.target;
  $("mode_used").textContent = result.mode;
  const table = $("probs");
  table.replaceChildren();
  for (const [name, p] of Object.entries(result.probs)) {
    const row = table.insertRow();
    row.insertCell().textContent = name;
    row.insertCell().textContent = p.toFixed(3);
    row.insertCell().textContent = `reconstruction ${result.probs_reconstruction[name].toFixed(3)}`;
  }
  const list = $("attributes");
  list.replaceChildren();
  for (const a of result.attributes) {
    const item = document.createElement("li");
    item.className = "attribute";
    const image = document.createElement("img");
    image.src = a.counterfactual;
    image.alt = `counterfactual ${a.rank}`;
    const [name, meta] = label(a);
    const title = document.createElement("div");
    title.className = "name";
    title.textContent = `${a.rank}. ${name} (${a.direction})`;
    const details = document.createElement("div");
    details.className = "meta";
    details.textContent = `${meta}; effect ${a.effect.toFixed(3)}; ${probsText(a.probs)}`;
    item.append(image, title, details);
    list.append(item);
  }
  const joint = result.joint;
  $("joint").hidden = !joint;
  if (joint) {
    $("joint_image").src = joint.counterfactual;
    $("joint_caption").textContent =
      `ranks ${joint.ranks.join(", ")}: predicted ${joint.predicted}` +
      (joint.flips ? " (the decision flips)" : "") + `; ${probsText(joint.probs)}`;
  }
}

async function explain() {
  if (!current) return;
  const number = ++pending;
  setStatus("explaining…");
  const form = new FormData();
  form.append("image", current, "image");
  form.append("return_reconstruction", "true");
  for (const id of ["mode", "top_k", "target", "shift"]) {
    if ($(id).value !== "") form.append(id, $(id).value);
  }
  try {
    const response = await fetch("/v1/explain", { method: "POST", body: form });
    const body = await response.json();
    if (number !== pending) return;
    if (!response.ok) {
      setStatus(`${response.status}: ${body.error}`, true);
      return;
    }
    show(body);
    setStatus("");
  } catch (error) {
    if (number === pending) setStatus(`the request failed: ${error}`, true);
  }
}

function choose(blob) {
  current = blob;
  $("original").src = URL.createObjectURL(blob);
  explain();
}

async function chooseSample(n) {
  for (const img of $("samples").children) img.classList.toggle("chosen", img.dataset.n === String(n));
  const response = await fetch(`/v1/samples/${n}.png`);
  if (!response.ok) {
    setStatus(`sample ${n}: ${response.status}`, true);
    return;
  }
  choose(await response.blob());
}

async function start() {
  info = await (await fetch("/v1/info")).json();
  $("model").textContent =
    `${info.name} v${info.version}: ${info.class_names.join(" / ")} at ${info.resolution} px`;
  for (const name of info.class_names) $("target").add(new Option(name, name));
  $("top_k").max = info.max_top_k;
  for (let n = 0; n < info.num_samples; n++) {
    const img = document.createElement("img");
    img.src = `/v1/samples/${n}.png`;
    img.alt = `sample ${n}`;
    img.dataset.n = String(n);
    img.addEventListener("click", () => chooseSample(n));
    $("samples").append(img);
  }
  $("file").addEventListener("change", () => $("file").files[0] && choose($("file").files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) choose(e.dataTransfer.files[0]);
  });
  $("controls").addEventListener("change", explain);
  $("shift").addEventListener("input", () => {
    $("shift_value").textContent = Number($("shift").value).toFixed(2);
  });
  const sample = new URLSearchParams(location.search).get("sample");
  if (sample !== null) chooseSample(Number(sample));
}

start().catch((error) => setStatus(`cannot read the model: ${error}`, true));
