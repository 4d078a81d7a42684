/**
 * A volume (or any float map) as bytes for the work store. CT values after the Modality LUT are
 * usually whole numbers within int16, so they travel as int16 (half the bytes of float32, and
 * exact); anything else travels as float32. The first byte says which.
 */
export function encodeFloats(data: Float32Array): Uint8Array {
  let integral = true;
  for (let q = 0; q < data.length; q++) {
    const v = data[q]!;
    if (v !== Math.round(v) || v < -32768 || v > 32767) {
      integral = false;
      break;
    }
  }
  if (integral) {
    const out = new Uint8Array(8 + data.length * 2);
    out[0] = 16;
    const view = new Int16Array(out.buffer, 8, data.length);
    for (let q = 0; q < data.length; q++) view[q] = data[q]!;
    return out;
  }
  const out = new Uint8Array(8 + data.length * 4);
  out[0] = 32;
  new Float32Array(out.buffer, 8, data.length).set(data);
  return out;
}

/**
 * The bytes after the 8-byte header, copied into a buffer of their own: typed-array views need
 * an aligned offset, and a Node Buffer's `slice` is a view into a shared (pooled) buffer.
 */
function body(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.byteLength - 8);
  out.set(bytes.subarray(8));
  return out;
}

export function decodeFloats(bytes: Uint8Array): Float32Array {
  const b = body(bytes);
  if (bytes[0] === 16) return Float32Array.from(new Int16Array(b.buffer, 0, b.length / 2));
  if (bytes[0] === 32) return new Float32Array(b.buffer, 0, b.length / 4);
  throw new Error(`unknown volume encoding ${bytes[0]}`);
}

/** A label map: one byte per voxel when fewer than 256 labels, else two. */
export function encodeLabels(labels: Uint16Array): Uint8Array {
  let max = 0;
  for (const v of labels) if (v > max) max = v;
  if (max < 256) {
    const out = new Uint8Array(8 + labels.length);
    out[0] = 8;
    out.set(labels, 8);
    return out;
  }
  const out = new Uint8Array(8 + labels.length * 2);
  out[0] = 16;
  new Uint16Array(out.buffer, 8, labels.length).set(labels);
  return out;
}

export function decodeLabels(bytes: Uint8Array): Uint16Array {
  const b = body(bytes);
  if (bytes[0] === 8) return Uint16Array.from(b);
  if (bytes[0] === 16) return new Uint16Array(b.buffer, 0, b.length / 2);
  throw new Error(`unknown label encoding ${bytes[0]}`);
}
