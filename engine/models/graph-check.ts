/**
 * Checks a graph's declared inputs and outputs against what a pipeline feeds it: names present
 * and element types among the accepted ones. Problems come back as sentences naming the file.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { EngineError } from '../errors.js';
import { readGraphSignature, type GraphSignature } from '../onnx/signature.js';

export const FLOAT_TYPES = ['float32', 'float16', 'bfloat16'];
export const INT_TYPES = ['int32', 'int64'];
export const NUMBER_TYPES = [...FLOAT_TYPES, ...INT_TYPES];

export interface GraphExpectation {
  /** Input name -> accepted element types; names that must all be present. */
  inputs: Record<string, string[]>;
  /** Inputs that may be absent (e.g. guidance), with their accepted types when present. */
  optionalInputs?: Record<string, string[]>;
  /** Output names, one of which must be present (first match wins), with accepted types. */
  outputs: Array<{ names: string[]; types: string[] }>;
}

export interface GraphCheck {
  signature: GraphSignature | null;
  problems: string[];
}

export function checkGraph(dir: string, relative: string, expectation: GraphExpectation): GraphCheck {
  const file = path.join(dir, relative);
  if (!existsSync(file)) return { signature: null, problems: [`${relative}: missing`] };
  let signature: GraphSignature;
  try {
    signature = readGraphSignature(file);
  } catch (error) {
    return { signature: null, problems: [error instanceof EngineError ? error.message.replace(file, relative) : String(error)] };
  }
  const problems: string[] = [];
  const inputs = new Map(signature.inputs.map((i) => [i.name, i]));
  const check = (name: string, types: string[], required: boolean) => {
    const input = inputs.get(name);
    if (!input) {
      if (required) problems.push(`${relative}: no input "${name}" (inputs: ${signature.inputs.map((i) => i.name).join(', ') || 'none'})`);
      return;
    }
    if (!types.includes(input.type)) problems.push(`${relative}: input "${name}" is ${input.type}, expected ${types.join(' or ')}`);
  };
  for (const [name, types] of Object.entries(expectation.inputs)) check(name, types, true);
  for (const [name, types] of Object.entries(expectation.optionalInputs ?? {})) check(name, types, false);
  for (const output of expectation.outputs) {
    const found = signature.outputs.find((o) => output.names.includes(o.name));
    if (!found) problems.push(`${relative}: no output named ${output.names.map((n) => `"${n}"`).join(' or ')} (outputs: ${signature.outputs.map((o) => o.name).join(', ') || 'none'})`);
    else if (!output.types.includes(found.type)) problems.push(`${relative}: output "${found.name}" is ${found.type}, expected ${output.types.join(' or ')}`);
  }
  return { signature, problems };
}
