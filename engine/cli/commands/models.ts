/** `atelier models list`: the models the engine can see. */
import { COMMON_FLAGS, engineFor, outputFor } from '../context.js';
import { parseFlags, UsageError } from '../usage.js';

export async function modelsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'list') throw new UsageError(sub ? `unknown "models" command "${sub}" (try: models list)` : 'models needs a command: list');
  const flags = parseFlags(rest, COMMON_FLAGS);
  const out = outputFor(flags);
  const engine = engineFor(flags);
  const models = engine.listModels();
  out.result({ models });
  if (models.length === 0) out.line('no models found');
  for (const m of models) out.line(`${m.id}\t${m.name}\t${m.family}\t${m.embedded ? 'embedded' : m.path}`);
  return 0;
}
