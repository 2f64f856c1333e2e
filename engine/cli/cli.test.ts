import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFakeModelFolder } from '../testing/fake-pipeline.js';
import { tempDir } from '../testing/models.js';
import { captureCliOutput } from '../testing/cli-output.js';
import { main } from './main.js';

const { stdout, stderr } = captureCliOutput();

describe('atelier CLI', () => {
  it('exits 2 with one line for unknown commands, bad flags and bad values', async () => {
    expect(await main(['paint'])).toBe(2);
    expect(await main(['generate', '--bogus'])).toBe(2);
    expect(await main(['generate', '--prompt', 'x', '--steps', '0'])).toBe(2);
    expect(await main(['generate', '--prompt', 'x', '--guidance', 'lots'])).toBe(2);
    expect(await main(['generate'])).toBe(2);
    expect(await main(['edit', '--instruction', 'x', '--image', '/no/such/file.png'])).toBe(2);
    expect(await main(['models', 'delete'])).toBe(2);
    expect(await main(['generate', '--prompt', 'x', '--provider', 'quantum'])).toBe(2);
    expect(await main(['generate', '--prompt', 'x', '--seed', ''])).toBe(2);
    expect(await main(['generate', '--prompt', 'x', '--width', '0x100'])).toBe(2);
    expect(await main(['generate', '--prompt', 'x', '--guidance', ' '])).toBe(2);
    expect(await main(['edit', '--instruction', 'x', '--image', tempDir()])).toBe(2);
    expect(stderr).toEqual([
      'atelier: unknown command "paint" (try: atelier --help)\n',
      "atelier generate: Unknown option '--bogus'\n",
      'atelier generate: --steps must be an integer from 1 to 200, got "0"\n',
      'atelier generate: --guidance must be a number from 0 to 50, got "lots"\n',
      'atelier generate: --prompt is required\n',
      'atelier edit: --image /no/such/file.png: file not found\n',
      'atelier models: unknown "models" command "delete" (try: models list, models validate DIR, models import DIR, models forget MODEL-ID)\n',
      'atelier generate: --provider must be one of auto, cpu, cuda, webgpu, dml, coreml; got "quantum"\n',
      'atelier generate: --seed must be an integer from 0 to 9007199254740991, got ""\n',
      'atelier generate: --width must be an integer from 16 to 4096, got "0x100"\n',
      'atelier generate: --guidance must be a number from 0 to 50, got " "\n',
      expect.stringMatching(/^atelier edit: --image .+: not a file\n$/),
    ]);
    expect(stdout).toEqual([]);
  });

  it('reports a missing model folder given with --model', async () => {
    expect(await main(['generate', '--prompt', 'x', '--model', './no/such/model'])).toBe(2);
    expect(stderr[0]).toBe('atelier generate: --model ./no/such/model: model folder not found\n');
  });

  it('prints exactly one JSON object with --json', async () => {
    const root = tempDir();
    writeFakeModelFolder(root, 'listed-model');
    expect(await main(['models', 'list', '--json', '--models', root, '--data-dir', path.join(root, 'data')])).toBe(0);
    expect(stdout).toHaveLength(1);
    const listed = JSON.parse(stdout[0]!) as { models: Array<{ id: string; family: string }> };
    expect(listed.models.find((m) => m.id === 'listed-model')).toMatchObject({ family: 'flux-kontext' });
    stdout.length = 0;
    expect(await main(['doctor', '--json', '--data-dir', path.join(root, 'data')])).toBe(0);
    expect(stdout).toHaveLength(1);
    const doctor = JSON.parse(stdout[0]!) as { providers: Array<{ name: string; available: boolean }>; cudaInstallCommand: string };
    expect(doctor.providers[0]).toMatchObject({ name: 'cpu', available: true });
    expect(doctor.cudaInstallCommand).toMatch(/onnxruntime-node-install=cuda12$/);
  });
});
