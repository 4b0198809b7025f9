// Independent reference for token conformance: runs transformers.js (PaliGemmaForConditionalGeneration)
// greedily on a local model folder and prints the generated ids and text per case and row.
//
//   node tools/node/reference-generate.mjs CASES.json > OUT.json
//
// CASES.json: {"model": "<default model dir, relative to the CASES file or absolute>",
//              "images_dir": "<optional base for relative image paths; default: the CASES file's folder>",
//              "cases": [{"id": "...", "images": ["a.png", ...], "prompts": ["caption en", ...],
//                         "max_new_tokens": 20, "model": "<optional: this case's model dir>"}]}
// Each case is ONE batched generate call: images[i] pairs with prompts[i]. Output (stdout, JSON):
//   {"transformers_js": ..., "threads": ..., "cases": [{"id", "model", "eos_token_ids", "decoder_inputs", "rows": [
//     {"image", "prompt", "prompt_ids" (unpadded), "prompt_length", "padded_prompt_length",
//      "generated_ids" (after the prompt, up to and including the first eos), "stopped_on_eos", "text"}]}]}
// Environment: REF_THREADS (intra-op threads, default 1); REF_BATCHED_AS_IS=1 (see below).
// Cases whose prompts differ in token length (only allowed when the decoder declares attention_mask)
// are generated row by row (reference_mode "per-row"): transformers.js 4.3.1 drops the padding mask
// after the prefill, so its own padded batches are not a valid golden.
//
// Feed images already at the model's input size: transformers.js's resize differs from PIL's by 10-18 levels at 56 px.
import fs from 'node:fs';
import path from 'node:path';
import {
    env,
    AutoProcessor,
    PaliGemmaForConditionalGeneration,
    RawImage,
} from '@huggingface/transformers';

function fail(message) {
    process.stderr.write(`reference-generate: ${message}\n`);
    process.exit(2);
}

/** Loads model + processor from a local folder only (never the Hub). */
export async function loadLocal(modelDir, threads, allowSpinning = null) {
    const abs = path.resolve(modelDir);
    if (!fs.existsSync(path.join(abs, 'config.json'))) fail(`no config.json in model folder ${abs}`);
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = path.dirname(abs) + path.sep;
    env.useBrowserCache = false;
    env.useFSCache = false;
    const id = path.basename(abs);
    const session_options = { intraOpNumThreads: threads, interOpNumThreads: 1 };
    // onnxruntime-node flattens `extra` into session config entries (session.intra_op.allow_spinning), the same
    // switch our generator's Inference:AllowSpinning sets; null keeps ONNX Runtime's default (spin).
    if (allowSpinning !== null) {
        const v = allowSpinning ? '1' : '0';
        session_options.extra = { session: { intra_op: { allow_spinning: v }, inter_op: { allow_spinning: v } } };
    }
    const model = await PaliGemmaForConditionalGeneration.from_pretrained(id, {
        local_files_only: true,
        dtype: 'fp32',
        device: 'cpu',
        session_options,
    });
    const processor = await AutoProcessor.from_pretrained(id, { local_files_only: true });
    return { model, processor, abs };
}

/** The eos ids generation stops on, as generation_config.json declares them. */
export function eosIds(modelDir) {
    const gc = JSON.parse(fs.readFileSync(path.join(modelDir, 'generation_config.json'), 'utf8'));
    const e = gc.eos_token_id;
    return (Array.isArray(e) ? e : [e]).map(Number);
}

/**
 * Builds processor inputs for one batch. The prompts are passed with an explicit leading "<image>":
 * without it, transformers.js 4.3.1 repeats the image tokens once per image IN THE BATCH for every row
 * (build_string_from_input uses images.length), which is wrong for batch > 1. With it, each row becomes
 * "<image>" x N + "<bos>" + prompt + "\n" — the same string as the Python processor builds.
 */
export async function prepare(processor, images, prompts) {
    const texts = prompts.map((p) => `<image>${p}`);
    return await processor(images, texts, { padding: true });
}

async function main() {
    const casesPath = process.argv[2];
    if (!casesPath) fail('usage: node tools/node/reference-generate.mjs CASES.json > OUT.json');
    const spec = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
    const base = path.dirname(path.resolve(casesPath));
    const imagesDir = path.resolve(base, spec.images_dir ?? '.');
    const threads = Number(process.env.REF_THREADS ?? '1');
    const loaded = new Map();
    async function get(dir) {
        if (!loaded.has(dir)) {
            const { model, processor } = await loadLocal(dir, threads);
            loaded.set(dir, {
                model,
                processor,
                eos: eosIds(dir),
                decoderInputs: model.sessions['decoder_model_merged']?.inputNames ?? [],
            });
        }
        return loaded.get(dir);
    }

    const out = { transformers_js: '4.3.1', threads, cases: [] };
    for (const c of spec.cases) {
        if (!Array.isArray(c.images) || !Array.isArray(c.prompts) || c.images.length !== c.prompts.length || c.images.length === 0) {
            fail(`case ${c.id}: images and prompts must be non-empty arrays of equal length`);
        }
        const modelRel = c.model ?? spec.model;
        if (!modelRel) fail(`case ${c.id}: no model (set "model" at the top or in the case)`);
        const modelDir = path.resolve(base, modelRel);
        const { model, processor, eos, decoderInputs } = await get(modelDir);
        const hasMask = decoderInputs.includes('attention_mask');
        const images = await Promise.all(c.images.map((p) => RawImage.read(path.resolve(imagesDir, p))));
        const inputs = await prepare(processor, images, c.prompts);
        const [batch, padded] = inputs.input_ids.dims;
        const ids = inputs.input_ids.tolist().map((r) => r.map(Number));
        const mask = inputs.attention_mask.tolist().map((r) => r.map(Number));
        const lengths = mask.map((r) => r.reduce((a, b) => a + b, 0));
        if (!hasMask && lengths.some((l) => l !== lengths[0])) {
            fail(`case ${c.id}: prompt lengths ${lengths.join(',')} differ but the decoder has no attention_mask input`);
        }
        const maxNew = c.max_new_tokens ?? 20;
        const unequal = lengths.some((l) => l !== lengths[0]);
        // transformers.js 4.3.1 keeps the padding mask only for the prefill: in every decode step
        // (generic_text_to_text_forward, pixel_values still present) it replaces the past part of
        // attention_mask with ones, so left-padded rows then attend to their padding keys and get
        // position ids shifted by the padding. That is not PaliGemma's semantics (a row's output must not
        // depend on its batch mates), so for padded batches the golden is each row generated alone.
        // REF_BATCHED_AS_IS=1 reports transformers.js's own batched output instead.
        const perRow = unequal && process.env.REF_BATCHED_AS_IS !== '1';
        let generated;
        if (perRow) {
            generated = [];
            for (let b = 0; b < batch; ++b) {
                const one = await prepare(processor, [images[b]], [c.prompts[b]]);
                const seq1 = (await model.generate({ ...one, max_new_tokens: maxNew, do_sample: false })).tolist();
                generated.push(seq1[0].map(Number).slice(one.input_ids.dims[1]));
            }
        } else {
            const sequences = await model.generate({ ...inputs, max_new_tokens: maxNew, do_sample: false });
            generated = sequences.tolist().map((r) => r.map(Number).slice(padded));
        }
        const rows = [];
        for (let b = 0; b < batch; ++b) {
            const gen = [];
            let stopped = false;
            // Rows that finished early keep being extended by transformers.js; cut at the first eos.
            for (const t of generated[b]) {
                gen.push(t);
                if (eos.includes(t)) {
                    stopped = true;
                    break;
                }
            }
            const promptIds = ids[b].filter((_, j) => mask[b][j] === 1);
            rows.push({
                image: c.images[b],
                prompt: c.prompts[b],
                prompt_ids: promptIds,
                prompt_length: lengths[b],
                padded_prompt_length: padded,
                generated_ids: gen,
                stopped_on_eos: stopped,
                text: processor.tokenizer.decode(gen, { skip_special_tokens: true }),
            });
        }
        out.cases.push({
            id: c.id,
            model: modelRel,
            eos_token_ids: eos,
            decoder_inputs: decoderInputs,
            batch,
            reference_mode: perRow ? 'per-row' : 'batched',
            max_new_tokens: maxNew,
            rows,
        });
    }
    process.stdout.write(JSON.stringify(out, null, 1) + '\n');
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('reference-generate.mjs')) {
    main().catch((e) => fail(e?.stack ?? String(e)));
}
