/**
 * `atelier watermark ...`: the owner's keys, images made with a key baked into the VAE decoder,
 * and verification of image files (methods/watermark).
 *
 *   watermark keys                          list the keys (the demo key first)
 *   watermark keys create NAME [--steps N]  a new key with random bits: its LoRA generated, then
 *                                           trained N steps (default: the watermark files' recipe;
 *                                           0: the generated LoRA as it is), progress on stderr
 *   watermark keys rename ID NAME | delete ID
 *   watermark keys import FILE [NAME]       a key trained elsewhere (models/zoo: zoo.watermark key),
 *                                           FILE its .key.json, its LoRA beside it
 *   watermark embed --key ID [job flags]    generate (or, with --image and --instruction, edit;
 *                                           with --image and --prompt, img2img) with the key baked
 *                                           in; the same as `generate ... --watermark ID`
 *   watermark verify FILE... [--fpr X]      a verdict per file against every known key
 *
 * Exit codes: 0 done (verify: every file was read and checked, verified or not); 2 bad flags, an
 * unknown key, or (verify) a file that could not be read or checked (its line says why).
 */
import { promises as fs } from 'node:fs';
import { engineConfig } from '../../host/config.js';
import { formatP } from '../../methods/watermark/verdict.js';
import { keyInfo, Watermarking } from '../../methods/watermark/service.js';
import { DEFAULT_WATERMARK_FPR, MAX_VERIFY_FILES, type WatermarkVerdict } from '../../protocol/index.js';
import { outputFor } from '../context.js';
import { bool, intFlag, parseDecimal, parseFlags, str, UsageError, type Flags } from '../usage.js';
import { runJobCommand } from './jobs.js';

const FLAGS = { 'data-dir': { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean' } } as const;
const KEY_FLAGS = { ...FLAGS, steps: { type: 'string' } } as const;

function service(flags: Flags): Watermarking {
  return new Watermarking(engineConfig({ dataDir: str(flags, 'data-dir') }).dataDir);
}

async function keysCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, KEY_FLAGS, true);
  const out = outputFor(flags);
  const [action, ...args] = flags.positionals;
  if (action !== 'create' && str(flags, 'steps') !== undefined) throw new UsageError('--steps goes with "watermark keys create"');
  const wm = service(flags);
  const need = (count: number, usage: string) => {
    if (args.length !== count) throw new UsageError(`usage: atelier watermark keys ${usage}`);
  };
  if (action === undefined || action === 'list') {
    if (args.length > 0) throw new UsageError('usage: atelier watermark keys [list]');
    const keys = (await wm.keys.list((m) => process.stderr.write(`atelier: ${m}\n`))).map(keyInfo);
    out.result({ keys });
    if (keys.length === 0) out.line('no watermark keys (create one: atelier watermark keys create NAME)');
    for (const k of keys) out.line(`${k.id.padEnd(16)}  ${k.bits}  ${k.created.slice(0, 10)}  ${k.name}${k.builtIn ? ' (built-in demo key)' : ''}`);
    return 0;
  }
  if (action === 'create') {
    need(1, 'create NAME [--steps N]');
    const steps = intFlag(str(flags, 'steps'), 'steps', 0, 5000);
    const quiet = bool(flags, 'quiet');
    const key = keyInfo(
      await wm.keys.create(args[0]!, {
        ...(steps === undefined ? {} : { steps }),
        onProgress: (p) => {
          if (!quiet && (p.step % 25 === 0 || p.step === p.total)) {
            process.stderr.write(`atelier: training the key: step ${p.step}/${p.total}, bit accuracy ${p.bitAccuracy.toFixed(3)}, ${p.psnrDb.toFixed(1)} dB\n`);
          }
        },
      }),
    );
    out.result({ key });
    const t = key.training;
    out.line(`created ${key.id} "${key.name}" (bits ${key.bits}${t ? `; trained ${t.steps} steps, bit accuracy ${t.bitAccuracy.toFixed(3)} at ${t.psnrDb.toFixed(1)} dB` : ''})`);
    return 0;
  }
  if (action === 'rename') {
    need(2, 'rename ID NAME');
    const key = keyInfo(await wm.keys.rename(args[0]!, args[1]!));
    out.result({ key });
    out.line(`renamed ${key.id} to "${key.name}"`);
    return 0;
  }
  if (action === 'import') {
    if (args.length < 1 || args.length > 2) throw new UsageError('usage: atelier watermark keys import FILE [NAME]');
    const key = keyInfo(await wm.keys.import(args[0]!, args[1]));
    out.result({ key });
    out.line(`imported ${key.id} "${key.name}" (bits ${key.bits})`);
    return 0;
  }
  if (action === 'delete') {
    need(1, 'delete ID');
    await wm.keys.delete(args[0]!);
    out.result({ deleted: args[0] });
    out.line(`deleted ${args[0]}`);
    return 0;
  }
  throw new UsageError(`unknown "watermark keys" action "${action}" (list, create NAME, rename ID NAME, delete ID, import FILE [NAME])`);
}

async function embedCommand(argv: string[]): Promise<number> {
  const at = argv.findIndex((a) => a === '--key' || a.startsWith('--key='));
  if (at < 0) throw new UsageError('--key is required (an id from: atelier watermark keys)');
  const key = argv[at]!.startsWith('--key=') ? argv[at]!.slice(6) : argv[at + 1];
  if (!key || key.startsWith('--')) throw new UsageError('--key needs a value');
  const rest = [...argv.slice(0, at), ...argv.slice(at + (argv[at]!.includes('=') ? 1 : 2))];
  if (rest.some((a) => a === '--watermark' || a.startsWith('--watermark='))) throw new UsageError('give the key once, with --key');
  const has = (flag: string) => rest.some((a) => a === flag || a.startsWith(`${flag}=`) || (flag.length === 2 && a === flag));
  const kind = has('--instruction') ? 'edit' : has('--image') || has('-i') ? 'img2img' : 'generate';
  return runJobCommand([...rest, '--watermark', key], kind);
}

function fprFlag(value: string | undefined): number {
  if (value === undefined) return DEFAULT_WATERMARK_FPR;
  const n = parseDecimal(value);
  if (!Number.isFinite(n) || n <= 0 || n >= 1) throw new UsageError(`--fpr must be a number between 0 and 1 (exclusive), got "${value}"`);
  return n;
}

function describe(v: WatermarkVerdict): string[] {
  const claim = v.claimedKeyId && v.claimedKeyId !== v.key?.id ? [`  metadata names key ${v.claimedKeyId} (not evidence; the pixels decide)`] : [];
  return [`${v.name}: ${v.summary}`, ...v.notes.map((n) => `  note: ${n}`), ...claim];
}

async function verifyCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { ...FLAGS, fpr: { type: 'string' } }, true);
  const out = outputFor(flags);
  const fpr = fprFlag(str(flags, 'fpr'));
  const files = flags.positionals;
  if (files.length === 0) throw new UsageError('usage: atelier watermark verify FILE... [--fpr X] [--json]');
  const wm = service(flags);
  const results: WatermarkVerdict[] = [];
  try {
    for (let i = 0; i < files.length; i += MAX_VERIFY_FILES) {
      type Read = { name: string; bytes: Uint8Array } | { name: string; missing: string };
      const batch = await Promise.all(
        files.slice(i, i + MAX_VERIFY_FILES).map(async (name): Promise<Read> => {
          try {
            return { name, bytes: new Uint8Array(await fs.readFile(name)) };
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code;
            return { name, missing: code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'a folder, not a file' : `cannot read (${code ?? 'unknown error'})` };
          }
        }),
      );
      const readable = batch.filter((b): b is { name: string; bytes: Uint8Array } => 'bytes' in b);
      const verdicts = readable.length > 0 ? await wm.verify(readable, fpr, (m) => process.stderr.write(`atelier: ${m}\n`)) : [];
      for (const b of batch) {
        const v = 'bytes' in b ? verdicts.shift()! : await wm.unreadable(b.name, b.missing, fpr);
        results.push(v);
        for (const line of describe(v)) out.line(line);
      }
    }
  } finally {
    await wm.release();
  }
  const verified = results.filter((r) => r.status === 'verified').length;
  const errors = results.filter((r) => r.status === 'error').length;
  if (results.length > 1) out.line(`${verified} of ${results.length} verified${errors ? `, ${errors} could not be checked` : ''} (false-positive rate ${formatP(fpr)})`);
  out.result({ fpr, verified, errors, results });
  return errors > 0 ? 2 : 0;
}

export async function watermarkCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'keys') return keysCommand(rest);
  if (sub === 'embed') return embedCommand(rest);
  if (sub === 'verify') return verifyCommand(rest);
  throw new UsageError(sub ? `unknown "watermark" command "${sub}" (keys, embed, verify)` : 'watermark needs a command: keys, embed --key ID ..., verify FILE...');
}
