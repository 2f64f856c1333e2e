/**
 * `atelier doctor`: what this machine offers the engine — ONNX Runtime's version, each execution
 * provider and whether its files are present (with the exact command that installs the CUDA
 * provider), the data folder and the models found.
 */
import { engineVersion } from '../../version.js';
import { onnxruntimeVersion } from '../../runtime/ort.js';
import { cudaInstallCommand } from '../../runtime/providers.js';
import { COMMON_FLAGS, engineFor, outputFor } from '../context.js';
import { parseFlags } from '../usage.js';

export async function doctorCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, COMMON_FLAGS);
  const out = outputFor(flags);
  const engine = engineFor(flags);
  const providers = engine.providerInventory();
  const warnings: string[] = [];
  const models = engine.listModels();
  const report = {
    engineVersion: engineVersion(),
    onnxruntimeVersion: onnxruntimeVersion(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    providers,
    cudaInstallCommand: cudaInstallCommand(),
    dataDir: engine.dataDir,
    models: models.map((m) => ({ id: m.id, name: m.name, embedded: m.embedded, path: m.path })),
    warnings,
  };
  if (!models.some((m) => m.embedded)) warnings.push('the embedded default model is missing (models/tiny/kontext)');
  out.result(report);
  out.line(`Atelier ${report.engineVersion} · ONNX Runtime ${report.onnxruntimeVersion} · Node ${report.node} · ${report.platform}`);
  out.line('Execution providers:');
  for (const p of providers) out.line(`  ${p.available ? 'yes' : 'no '} ${p.name.padEnd(7)} ${p.detail}`);
  if (!providers.find((p) => p.name === 'cuda')?.available) out.line(`To use an NVIDIA GPU, install the CUDA provider files:\n  ${report.cudaInstallCommand}`);
  out.line(`Data folder: ${report.dataDir}`);
  out.line(`Models: ${models.length === 0 ? 'none' : models.map((m) => m.id).join(', ')}`);
  for (const w of warnings) out.line(`warning: ${w}`);
  return 0;
}
