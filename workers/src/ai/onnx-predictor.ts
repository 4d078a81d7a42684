/**
 * Adapts an onnxruntime session to the sliding window's PatchPredictor: feeds a batch of
 * patches as one NCDHW float32 tensor under the manifest's input name, returns the named output.
 */
import { type InferenceSession, Tensor } from 'onnxruntime-node';
import type { PatchPredictor } from './sliding-window.js';

export function onnxPredictor(
  session: InferenceSession,
  inputName: string,
  outputName: string,
): PatchPredictor {
  return async (batch, count, patch) => {
    const input = new Tensor('float32', batch, [count, 1, patch[0], patch[1], patch[2]]);
    const result = await session.run({ [inputName]: input }, [outputName]);
    const out = result[outputName];
    if (!out) throw new Error(`the model produced no output named ${outputName}`);
    if (out.type !== 'float32') throw new Error(`output ${outputName} is ${out.type}, expected float32`);
    const data = out.data as Float32Array;
    const copy = data.slice();
    out.dispose();
    input.dispose();
    return copy;
  };
}
