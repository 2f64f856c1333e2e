/**
 * Execution providers: which ones this machine can offer, in which order to try them, and the
 * exact command that installs the CUDA provider files (skipped at `npm install`, see .npmrc).
 *
 * ONNX Runtime throws when a requested provider cannot load instead of falling back, so the
 * engine asks for one provider at a time (see session.ts) and falls back to the CPU itself.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ProviderChoice, ProviderInfo, ProviderName } from '../protocol/index.js';
import { ort } from './ort.js';

const require = createRequire(import.meta.url);

/** Folder holding onnxruntime-node's native binding and any provider libraries beside it. */
export function ortBinaryFolder(): string {
  const pkg = require.resolve('onnxruntime-node/package.json');
  return path.join(path.dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
}

function cudaProviderFile(): string {
  const name = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return path.join(ortBinaryFolder(), name);
}

/** The command that fetches the CUDA provider files into onnxruntime-node's folder. */
export function cudaInstallCommand(): string {
  const script = path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'script', 'install.js');
  return `node "${script}" --onnxruntime-node-install=cuda12`;
}

const VULKAN_LOADER_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu'];

function vulkanLoaderPresent(): boolean {
  return VULKAN_LOADER_DIRS.some((dir) => existsSync(path.join(dir, 'libvulkan.so.1')));
}

/** What each provider looks like on this machine; cheap (file checks only, no session). */
export function inventoryProviders(): ProviderInfo[] {
  const bundled = new Map(ort.listSupportedBackends().map((b) => [b.name, b.bundled]));
  const cudaFile = cudaProviderFile();
  const cudaPresent = existsSync(cudaFile);
  const providers: ProviderInfo[] = [
    { name: 'cpu', available: true, detail: 'always available' },
    {
      name: 'cuda',
      available: cudaPresent,
      detail: cudaPresent
        ? `provider files present (${cudaFile}); needs an NVIDIA driver with CUDA 12 and cuDNN 9`
        : bundled.has('cuda')
          ? `provider files not installed; install with: ${cudaInstallCommand()}`
          : `not offered by onnxruntime-node on ${process.platform}/${process.arch}`,
    },
  ];
  if (bundled.has('webgpu')) {
    const needsVulkan = process.platform === 'linux';
    const ok = !needsVulkan || vulkanLoaderPresent();
    providers.push({
      name: 'webgpu',
      available: ok,
      detail: ok ? 'bundled; needs a GPU adapter' : 'bundled, but the Vulkan loader (libvulkan1) is missing',
    });
  }
  if (bundled.has('dml')) providers.push({ name: 'dml', available: true, detail: 'bundled (DirectML, Windows)' });
  if (bundled.has('coreml')) providers.push({ name: 'coreml', available: true, detail: 'bundled (CoreML, macOS)' });
  return providers;
}

/**
 * The providers to try, best first, for a user's choice. `auto` tries the GPU providers whose
 * files are present, then the CPU; an explicit choice tries that one, then the CPU.
 */
export function providerAttemptOrder(choice: ProviderChoice, inventory: ProviderInfo[]): ProviderName[] {
  if (choice === 'cpu') return ['cpu'];
  const available = new Set(inventory.filter((p) => p.available).map((p) => p.name));
  if (choice !== 'auto') return [choice, 'cpu'];
  const preferred: ProviderName[] = ['cuda', 'dml', 'coreml'];
  return [...preferred.filter((p) => available.has(p)), 'cpu'];
}
