// Times transformers.js (the reference) generating on a local model folder, for side-by-side numbers
// with our runtime on the SAME ONNX files, images and settings. Model loading is not timed.
//
//   node tools/node/bench-reference.mjs --model DIR --images a.png,b.png --prompt "caption en" \
//        --batch 4 --max-new-tokens 32 --threads 2 --warmup 1 --iterations 3 [--decoder-file PATH] [--allow-spinning 0|1]
//
// --images are cycled to fill the batch (feed images already at the model's size: the resize is not
// what we compare). --decoder-file runs another decoder graph (e.g. a rewritten one) in place of
// onnx/decoder_model_merged.onnx: transformers.js picks files by name, so a temporary folder of symlinks
// is built with that file under the standard name. Prints one JSON line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RawImage } from '@huggingface/transformers';
import { loadLocal, prepare, eosIds } from './reference-generate.mjs';

function parseArgs(argv) {
    const opts = { batch: 1, maxNewTokens: 32, threads: 1, warmup: 1, iterations: 3, prompt: 'caption en', allowSpinning: null };
    for (let i = 0; i < argv.length; ++i) {
        const key = argv[i];
        const val = argv[i + 1];
        const need = () => {
            if (val === undefined) throw new Error(`${key} needs a value`);
            ++i;
            return val;
        };
        switch (key) {
            case '--model': opts.model = need(); break;
            case '--images': opts.images = need().split(',').filter(Boolean); break;
            case '--prompt': opts.prompt = need(); break;
            case '--batch': opts.batch = Number(need()); break;
            case '--max-new-tokens': opts.maxNewTokens = Number(need()); break;
            case '--threads': opts.threads = Number(need()); break;
            case '--warmup': opts.warmup = Number(need()); break;
            case '--iterations': opts.iterations = Number(need()); break;
            case '--decoder-file': opts.decoderFile = need(); break;
            case '--allow-spinning': {
                const v = need();
                if (!['0', '1', 'true', 'false'].includes(v)) throw new Error('--allow-spinning must be 0, 1, true or false');
                opts.allowSpinning = v === '1' || v === 'true';
                break;
            }
            default: throw new Error(`unknown argument ${key}`);
        }
    }
    if (!opts.model) throw new Error('--model DIR is required');
    if (!opts.images?.length) throw new Error('--images a.png[,b.png...] is required');
    for (const k of ['batch', 'maxNewTokens', 'threads', 'iterations']) {
        if (!Number.isInteger(opts[k]) || opts[k] < 1) throw new Error(`--${k} must be a positive integer`);
    }
    if (!Number.isInteger(opts.warmup) || opts.warmup < 0) throw new Error('--warmup must be >= 0');
    return opts;
}

/** A temporary model folder whose onnx/decoder_model_merged.onnx is decoderFile (all else linked). */
function folderWithDecoder(modelDir, decoderFile) {
    const src = path.resolve(modelDir);
    const dec = path.resolve(decoderFile);
    if (!fs.existsSync(dec)) throw new Error(`--decoder-file ${dec} does not exist`);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ref-'));
    const dst = path.join(root, path.basename(src));
    fs.mkdirSync(path.join(dst, 'onnx'), { recursive: true });
    for (const f of fs.readdirSync(src)) {
        if (f !== 'onnx') fs.symlinkSync(path.join(src, f), path.join(dst, f));
    }
    for (const f of fs.readdirSync(path.join(src, 'onnx'))) {
        if (f !== 'decoder_model_merged.onnx') fs.symlinkSync(path.join(src, 'onnx', f), path.join(dst, 'onnx', f));
    }
    fs.symlinkSync(dec, path.join(dst, 'onnx', 'decoder_model_merged.onnx'));
    // External-data files sit next to the graph under their original names; link them alongside.
    for (const f of fs.readdirSync(path.dirname(dec))) {
        const target = path.join(dst, 'onnx', f);
        if (!f.endsWith('.onnx') && !fs.existsSync(target)) fs.symlinkSync(path.join(path.dirname(dec), f), target);
    }
    return { dir: dst, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    const tmp = opts.decoderFile ? folderWithDecoder(opts.model, opts.decoderFile) : null;
    try {
        const dir = tmp ? tmp.dir : opts.model;
        const { model, processor } = await loadLocal(dir, opts.threads, opts.allowSpinning);
        const eos = eosIds(path.resolve(opts.model));
        const files = Array.from({ length: opts.batch }, (_, i) => opts.images[i % opts.images.length]);
        const images = await Promise.all(files.map((f) => RawImage.read(path.resolve(f))));
        const prompts = files.map(() => opts.prompt);

        let last = null;
        const run = async () => {
            const t0 = performance.now();
            const inputs = await prepare(processor, images, prompts);
            const t1 = performance.now();
            const seq = await model.generate({ ...inputs, max_new_tokens: opts.maxNewTokens, do_sample: false });
            const t2 = performance.now();
            const promptLen = inputs.input_ids.dims[1];
            const rows = seq.tolist().map((r) => r.map(Number).slice(promptLen));
            const counts = rows.map((r) => {
                const i = r.findIndex((t) => eos.includes(t));
                return i < 0 ? r.length : i + 1;
            });
            last = { counts, steps: rows[0].length, promptLen };
            return { total: (t2 - t0) / 1000, generate: (t2 - t1) / 1000 };
        };
        for (let i = 0; i < opts.warmup; ++i) await run();
        const times = [];
        for (let i = 0; i < opts.iterations; ++i) times.push(await run());
        const total = times.reduce((a, t) => a + t.total, 0);
        const gen = times.reduce((a, t) => a + t.generate, 0);
        const imagesDone = opts.batch * opts.iterations;
        const result = {
            tool: 'transformers.js 4.3.1',
            model: path.resolve(opts.model),
            decoder_file: opts.decoderFile ? path.resolve(opts.decoderFile) : null,
            prompt: opts.prompt,
            batch: opts.batch,
            max_new_tokens: opts.maxNewTokens,
            threads: opts.threads,
            allow_spinning: opts.allowSpinning,
            warmup: opts.warmup,
            iterations: opts.iterations,
            images_per_s: imagesDone / total,
            generate_only_images_per_s: imagesDone / gen,
            seconds_per_iteration: times.map((t) => Number(t.total.toFixed(4))),
            prompt_length: last.promptLen,
            decode_steps: last.steps,
            generated_tokens_per_row: last.counts,
            note: 'timed: preprocessing of in-memory images + tokenization + generate; not timed: model load, file decode',
        };
        process.stdout.write(JSON.stringify(result) + '\n');
    } finally {
        tmp?.cleanup();
    }
}

main().catch((e) => {
    process.stderr.write(`bench-reference: ${e?.stack ?? e}\n`);
    process.exit(2);
});
