// Unknown fields: what an API server with strict field validation (kubectl's default) refuses and the JSON schemas
// of kubernetes-models leave open (they set no additionalProperties). A template slip such as a key indented one
// level too deep passes the schemas but would be refused, or silently dropped, by a cluster.
//
// The field lists come from the same packages' TypeScript declarations (*.d.ts next to each model), which list every
// property of every type. Only what the declarations state precisely is checked: object types and their property
// names, arrays and maps of them. Anything else (primitives, unions, any) is a leaf here; the schemas check values.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const nodeModules = join(dirname(fileURLToPath(import.meta.url)), "node_modules");
const files = new Map();

/** The declarations of one .d.ts file: its imports, interfaces, type aliases and export aliases. */
function declarations(path) {
  if (files.has(path)) {
    return files.get(path);
  }
  const text = readFileSync(path, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const file = { path, imports: new Map(), bodies: new Map(), aliases: new Map() };
  for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    for (const part of m[1].split(",").map((p) => p.trim()).filter(Boolean)) {
      const [name, local] = part.split(/\s+as\s+/).map((p) => p.trim());
      file.imports.set(local ?? name, { from: m[2], name });
    }
  }
  for (const m of text.matchAll(/export\s*\{([^}]*)\}/g)) {
    for (const part of m[1].split(",").map((p) => p.trim()).filter(Boolean)) {
      const [name, exported] = part.split(/\s+as\s+/).map((p) => p.trim());
      if (exported) {
        file.aliases.set(exported, name);
      }
    }
  }
  // interface NAME [extends ...] { body } and type NAME = body;
  for (const m of text.matchAll(/(?:export\s+)?(?:declare\s+)?\b(interface|type)\s+([A-Za-z0-9_]+)(?:\s+extends\s+[^{]+)?\s*(=)?\s*/g)) {
    const start = m.index + m[0].length;
    if (m[1] === "interface") {
      file.bodies.set(m[2], parseType(text, start).type);
    } else if (m[3] === "=") {
      file.bodies.set(m[2], parseType(text, start).type);
    }
  }
  files.set(path, file);
  return file;
}

/**
 * A small parser for the declaration types used: { "p"?: T; [key: string]: T; }, Array<T>, T[], unions, string and
 * number literals, named types, and indexed access NAME["x"] (a leaf). Returns { type, end }.
 */
function parseType(text, i) {
  const skip = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  function primary() {
    skip();
    if (text[i] === "{") {
      i++;
      const props = new Map();
      let index = null;
      for (;;) {
        skip();
        if (text[i] === "}") {
          i++;
          break;
        }
        if (text[i] === "[") {
          i = text.indexOf("]", i) + 1;
          skip();
          i++; // ':'
          index = union();
        } else {
          const m = /^"([^"]*)"|^([A-Za-z0-9_$]+)/.exec(text.slice(i));
          i += m[0].length;
          skip();
          if (text[i] === "?") i++;
          skip();
          i++; // ':'
          props.set(m[1] ?? m[2], union());
        }
        skip();
        if (text[i] === ";" || text[i] === ",") i++;
      }
      return { kind: "object", props, index };
    }
    if (text[i] === "(") {
      i++;
      const t = union();
      skip();
      i++;
      return t;
    }
    if (text[i] === '"' || text[i] === "'") {
      const end = text.indexOf(text[i], i + 1);
      i = end + 1;
      return { kind: "leaf" };
    }
    const m = /^[A-Za-z0-9_$.-]+/.exec(text.slice(i));
    if (!m) {
      throw new Error(`unexpected '${text.slice(i, i + 20)}'`);
    }
    i += m[0].length;
    skip();
    if (m[0] === "Array" && text[i] === "<") {
      i++;
      const item = union();
      skip();
      i++; // '>'
      return { kind: "array", item };
    }
    if (text[i] === "<") {
      // Other generics: not used for fields; treat as a leaf.
      let depth = 0;
      do {
        if (text[i] === "<") depth++;
        if (text[i] === ">") depth--;
        i++;
      } while (depth > 0);
      return { kind: "leaf" };
    }
    if (text[i] === "[" && text[i + 1] === '"') {
      i = text.indexOf("]", i) + 1;
      return { kind: "leaf" };
    }
    return /^[A-Z]/.test(m[0]) ? { kind: "ref", name: m[0] } : { kind: "leaf" };
  }
  function postfix() {
    let t = primary();
    for (;;) {
      skip();
      if (text[i] === "[" && text[i + 1] === "]") {
        i += 2;
        t = { kind: "array", item: t };
      } else {
        return t;
      }
    }
  }
  function union() {
    const parts = [postfix()];
    for (;;) {
      skip();
      if (text[i] !== "|") break;
      i++;
      parts.push(postfix());
    }
    return parts.length === 1 ? parts[0] : { kind: "leaf" };
  }
  const type = union();
  return { type, end: i };
}

/** A package's .d.ts as node resolves it from `fromFile`: the nearest node_modules folder up the tree that has it. */
function packageFile(fromFile, specifier) {
  for (let dir = dirname(fromFile); dir.startsWith(nodeModules) || dir === dirname(nodeModules); dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", `${specifier}.d.ts`);
    if (existsSync(candidate)) return candidate;
    if (dir === dirname(nodeModules)) break;
  }
  return null;
}

/** The declaration a named type in `file` stands for, following imports and export aliases. */
function resolve(file, name, depth = 0) {
  if (depth > 10) return { kind: "leaf" };
  if (file.bodies.has(name)) {
    const body = file.bodies.get(name);
    return body.kind === "ref" ? resolve(file, body.name, depth + 1) : { ...body, file };
  }
  if (file.aliases.has(name)) {
    return resolve(file, file.aliases.get(name), depth + 1);
  }
  const imported = file.imports.get(name);
  if (!imported) return { kind: "leaf" };
  const path = imported.from.startsWith(".") ? `${join(dirname(file.path), imported.from)}.d.ts` : packageFile(file.path, imported.from);
  if (path === null || !existsSync(path)) return { kind: "leaf" };
  return resolve(declarations(path), imported.name, depth + 1);
}

function check(value, type, file, at, errors) {
  if (type.kind === "ref") {
    const target = resolve(file, type.name);
    check(value, target, target.file ?? file, at, errors);
  } else if (type.kind === "array" && Array.isArray(value)) {
    value.forEach((v, n) => check(v, type.item, file, `${at}/${n}`, errors));
  } else if (type.kind === "object" && value && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, v] of Object.entries(value)) {
      const propType = type.props.get(key) ?? type.index;
      if (propType === null || propType === undefined) {
        errors.push(`${at}/${key} is not a field of this type (known: ${[...type.props.keys()].join(", ")})`);
      } else {
        check(v, propType, file, `${at}/${key}`, errors);
      }
    }
  }
}

/**
 * Fields of `object` its model's declarations do not have, as "path is not a field" messages. `modelPath` is the
 * module of the model (e.g. kubernetes-models/apps/v1/Deployment), `kind` its class name.
 */
export function unknownFields(object, modelPath, kind) {
  const path = join(nodeModules, `${modelPath}.d.ts`);
  if (!existsSync(path)) {
    return [`no declarations at ${path} to check fields against`];
  }
  const file = declarations(path);
  const root = resolve(file, `I${kind}`);
  if (root.kind !== "object") {
    return [`no interface I${kind} in ${path} to check fields against`];
  }
  const errors = [];
  check(object, root, root.file, "", errors);
  return errors;
}
