/**
 * A minimal ONNX (protobuf) writer for test fixtures: single-node or chained graphs with float
 * initializers, so unit tests can make real .onnx files (identity, box filter, wrong names,
 * fixed shapes) without Python. Field numbers from onnx/onnx.proto (IR version 7, opset 13).
 */
type Bytes = number[];

function varint(n: number | bigint, out: Bytes): void {
  let v = BigInt.asUintN(64, BigInt(n));
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
}
const key = (field: number, wire: number, out: Bytes) => varint((field << 3) | wire, out);
const int = (field: number, v: number, out: Bytes) => {
  key(field, 0, out);
  varint(v, out);
};
const bytes = (field: number, b: Bytes | Uint8Array, out: Bytes) => {
  key(field, 2, out);
  varint(b.length, out);
  for (const x of b) out.push(x);
};
const str = (field: number, s: string, out: Bytes) => bytes(field, [...Buffer.from(s, 'utf8')], out);
const msg = (field: number, build: (o: Bytes) => void, out: Bytes) => {
  const inner: Bytes = [];
  build(inner);
  bytes(field, inner, out);
};

export type Dim = number | string;
export interface OnnxValue {
  name: string;
  /** ONNX TensorProto.DataType: 1 float, 2 uint8, 7 int64, 10 float16. */
  elemType?: number;
  shape: Dim[];
}
export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  ints?: Record<string, number[]>;
  floats?: Record<string, number>;
}
export interface OnnxInitializer {
  name: string;
  dims: number[];
  values: Float32Array;
}

function valueInfo(v: OnnxValue, o: Bytes): void {
  str(1, v.name, o);
  msg(
    2,
    (t) =>
      msg(
        1,
        (tt) => {
          int(1, v.elemType ?? 1, tt);
          msg(
            2,
            (shape) => {
              for (const d of v.shape)
                msg(1, (dim) => (typeof d === 'number' ? int(1, d, dim) : str(2, d, dim)), shape);
            },
            tt,
          );
        },
        t,
      ),
    o,
  );
}

export function onnxModel(g: {
  nodes: OnnxNode[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  initializers?: OnnxInitializer[];
}): Uint8Array {
  const out: Bytes = [];
  int(1, 7, out); // ir_version
  str(2, 'radlink-test', out); // producer_name
  msg(
    7,
    (graph) => {
      g.nodes.forEach((n, x) => {
        msg(
          1,
          (node) => {
            for (const i of n.inputs) str(1, i, node);
            for (const i of n.outputs) str(2, i, node);
            str(3, `n${x}`, node);
            str(4, n.op, node);
            for (const [name, vals] of Object.entries(n.ints ?? {}))
              msg(
                5,
                (a) => {
                  str(1, name, a);
                  for (const v of vals) int(8, v, a);
                  int(20, 7, a); // INTS
                },
                node,
              );
            for (const [name, v] of Object.entries(n.floats ?? {}))
              msg(
                5,
                (a) => {
                  str(1, name, a);
                  key(2, 5, a);
                  const b = Buffer.alloc(4);
                  b.writeFloatLE(v);
                  for (const x of b) a.push(x);
                  int(20, 1, a); // FLOAT
                },
                node,
              );
          },
          graph,
        );
      });
      str(2, 'g', graph);
      for (const t of g.initializers ?? [])
        msg(
          5,
          (tp) => {
            for (const d of t.dims) int(1, d, tp);
            int(2, 1, tp);
            str(8, t.name, tp);
            bytes(9, new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength), tp);
          },
          graph,
        );
      for (const v of g.inputs) msg(11, (o) => valueInfo(v, o), graph);
      for (const v of g.outputs) msg(12, (o) => valueInfo(v, o), graph);
    },
    out,
  );
  msg(
    8,
    (op) => {
      str(1, '', op);
      int(2, 13, op);
    },
    out,
  );
  return Uint8Array.from(out);
}

const NCDHW: Dim[] = ['batch', 1, 'depth', 'height', 'width'];

/** y = x (Identity), input `image`, output `logits`, dynamic NCDHW unless `shape` is given. */
export function identityModel(
  o: { input?: string; output?: string; shape?: Dim[]; elemType?: number } = {},
): Uint8Array {
  const shape = o.shape ?? NCDHW;
  return onnxModel({
    nodes: [{ op: 'Identity', inputs: [o.input ?? 'image'], outputs: [o.output ?? 'logits'] }],
    inputs: [{ name: o.input ?? 'image', shape, elemType: o.elemType ?? 1 }],
    outputs: [{ name: o.output ?? 'logits', shape, elemType: o.elemType ?? 1 }],
  });
}

/** 3×3×3 mean filter with zero padding (a Conv with weights 1/27): receptive field 3. */
export function boxFilterModel(): Uint8Array {
  return onnxModel({
    nodes: [
      {
        op: 'Conv',
        inputs: ['image', 'w'],
        outputs: ['logits'],
        ints: { pads: [1, 1, 1, 1, 1, 1], kernel_shape: [3, 3, 3] },
      },
    ],
    inputs: [{ name: 'image', shape: NCDHW }],
    outputs: [{ name: 'logits', shape: NCDHW }],
    initializers: [{ name: 'w', dims: [1, 1, 3, 3, 3], values: new Float32Array(27).fill(1 / 27) }],
  });
}
