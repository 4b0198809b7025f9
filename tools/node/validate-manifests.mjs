// Validates Kubernetes objects against the API schemas of kubernetes-models (core and built-in groups) and
// @kubernetes-models/keda (keda.sh), the JSON schemas the API server and KEDA's CRDs publish, and refuses fields
// those types do not have, as an API server's strict field validation does (unknown-fields.mjs).
//
//   node tools/node/validate-manifests.mjs < objects.json
//
// stdin: a JSON array of objects (the documents of a rendered chart). stdout: a JSON object
// { "models": { package: version }, "results": [ { apiVersion, kind, name, model, errors: [...] } ] }, one result per
// input object in order. An object of a kind neither package models is an error, never a pass. Exit 0 when it ran.
import { readFileSync } from "node:fs";
import { unknownFields } from "./unknown-fields.mjs";

/** The module of a kind's model: kubernetes-models/<group>/<version>/<Kind> (core: v1/<Kind>). */
function modelPath(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^[A-Za-z0-9]+$/.test(kind)) {
    return null;
  }
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  if (!/^[a-z0-9.-]*$/.test(group) || !/^v[0-9a-z]+$/.test(version)) {
    return null;
  }
  if (group === "keda.sh") {
    return `@kubernetes-models/keda/keda.sh/${version}/${kind}`;
  }
  return group === "" ? `kubernetes-models/v1/${kind}` : `kubernetes-models/${group}/${version}/${kind}`;
}

async function validate(object) {
  const apiVersion = object?.apiVersion;
  const kind = object?.kind;
  const result = { apiVersion, kind, name: object?.metadata?.name ?? null, model: null, errors: [] };
  const path = modelPath(apiVersion, kind);
  if (path === null) {
    result.errors.push(`no model for apiVersion ${JSON.stringify(apiVersion)} kind ${JSON.stringify(kind)}`);
    return result;
  }
  let Model;
  try {
    Model = (await import(path))[kind];
  } catch {
    Model = undefined;
  }
  if (typeof Model !== "function" || Model.apiVersion !== apiVersion || Model.kind !== kind) {
    result.errors.push(`no model ${path} for ${apiVersion} ${kind} in kubernetes-models or @kubernetes-models/keda`);
    return result;
  }
  result.model = path;
  try {
    new Model(object).validate();
  } catch (e) {
    const details = Array.isArray(e?.errors) && e.errors.length > 0
      ? e.errors.map((d) => `${d.instancePath || "/"} ${d.message}${d.params ? " " + JSON.stringify(d.params) : ""}`)
      : [String(e?.message ?? e)];
    result.errors.push(...details);
  }
  result.errors.push(...unknownFields(object, path, kind));
  return result;
}

const input = JSON.parse(readFileSync(0, "utf8"));
if (!Array.isArray(input)) {
  console.error("validate-manifests: stdin must be a JSON array of Kubernetes objects");
  process.exit(2);
}
const models = {};
for (const name of ["kubernetes-models", "@kubernetes-models/keda", "@kubernetes-models/validate"]) {
  // Read directly: not every package exports ./package.json.
  models[name] = JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, import.meta.url), "utf8")).version;
}
const results = [];
for (const object of input) {
  results.push(await validate(object));
}
process.stdout.write(JSON.stringify({ models, results }));
