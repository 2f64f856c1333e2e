/**
 * `atelier`, the command-line face of the engine: the same engine API as the app, in-process,
 * for batch jobs and for tests. Exit codes: 0 done, 1 failed while running, 2 bad flags or input.
 */
import { EngineError, CancelledError } from '../errors.js';
import { doctorCommand } from './commands/doctor.js';
import { editCommand, generateCommand, img2imgCommand } from './commands/jobs.js';
import { judgeCommand } from './commands/judge.js';
import { loraCommand } from './commands/lora.js';
import { modelsCommand } from './commands/models.js';
import { watermarkCommand } from './commands/watermark.js';
import { UsageError } from './usage.js';

const USAGE = `usage: atelier <command> [flags]

commands:
  generate --prompt TEXT [--negative-prompt TEXT] [--scheduler KIND] [--width W] [--height H]
  edit --image FILE --instruction TEXT              instruction edit (FLUX Kontext models)
    SliderEdit: --strength "SUB-INSTRUCTION=VALUE" or "#N=VALUE" (repeatable, 0..2, 1 = as typed)  --parts "a|b|c"
      --sweep "SUB-INSTRUCTION" [--sweep-values 0,0.5,1,1.5,2] (--out gets the row, OUT-<i>-<value>.png each frame)
      --stlora FILE (instead of the model's own)
  img2img --image FILE --prompt TEXT [--strength X] [--negative-prompt TEXT] [--scheduler KIND]
    job flags: --seed N --steps N --guidance X --out FILE --watermark KEY (bake that watermark key in for this run)
  models list | models validate DIR | models import DIR | models forget MODEL-ID
  doctor
  judge IMAGE...                   the zoo's attribute judge on shapes-world images
  lora inspect FILE [--model DIR]  an adapter file: format, rank, targets, and how it maps onto a model
  watermark keys [create NAME | rename ID NAME | delete ID | import FILE [NAME]]   the owner's watermark keys
  watermark embed --key ID [generate, or edit/img2img flags]  a job with the key baked into the VAE decoder
  watermark verify FILE... [--fpr X]   verdict per file against every key (default rate 1e-6, Bonferroni over keys)

the app itself: npm start (desktop, or the same UI in a browser where Electron cannot start)

common flags: --model ID|DIR  --provider auto|cpu|cuda|webgpu|dml|coreml  --data-dir DIR
              --models DIR[,DIR]  --json (one JSON object on stdout)  --quiet`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  generate: generateCommand,
  edit: editCommand,
  img2img: img2imgCommand,
  models: modelsCommand,
  doctor: doctorCommand,
  judge: judgeCommand,
  lora: loraCommand,
  watermark: watermarkCommand,
};

/** Bad input detected by the engine before any work: reported like a usage error. */
const INPUT_CODES = new Set(['bad_input', 'invalid_params', 'not_found', 'no_model']);

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`atelier: unknown command "${name}" (try: atelier --help)\n`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`atelier ${name}: ${error.message}\n`);
      return 2;
    }
    if (error instanceof CancelledError) {
      process.stderr.write(`atelier ${name}: cancelled\n`);
      return 1;
    }
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    process.stderr.write(`atelier ${name}: ${message}\n`);
    return error instanceof EngineError && INPUT_CODES.has(error.code) ? 2 : 1;
  }
}
