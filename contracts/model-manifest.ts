/**
 * The AI model contract: `models/<id>/<version>/manifest.json` beside `model.onnx`.
 *
 * A model provider plugs a network in with this file alone: it says which series the model reads
 * (rules as data, like MONAI Deploy's series selector), how a volume becomes the input tensor
 * (target spacing, intensity steps), how the sliding window runs, what the output channels mean
 * (names, colours, DICOM SEG codes), how probabilities become findings, which findings flag a
 * study, and how the model scored. `models/manifest.schema.json` is generated from this TypeBox
 * schema (`npx tsx models/build/write-schema.ts`); a unit test keeps the two equal.
 *
 * Axis convention (invariant): every spatial triple in the manifest is in the tensor's layout
 * order D, H, W = (slice, row, column) of an axial volume, i.e. (z, y, x) in voxel terms.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';

/** Not for clinical use until a regulator clears the model; outputs carry this label. */
export const NOT_FOR_CLINICAL_USE_LABEL = 'AI generated — not for clinical use';

const Triple = (description: string, min: number) =>
  Type.Tuple([Type.Number({ minimum: min }), Type.Number({ minimum: min }), Type.Number({ minimum: min })], {
    description,
  });
const IntTriple = (description: string) =>
  Type.Tuple([Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })], {
    description,
  });

/** A DICOM code triplet (PS3.3 Code Sequence Macro), e.g. SCT 49755003 "Morphologically Altered Structure". */
export const CodeSchema = Type.Object(
  {
    codeValue: Type.String({ minLength: 1, maxLength: 64 }),
    codingSchemeDesignator: Type.String({ minLength: 1, maxLength: 16, examples: ['SCT', 'DCM'] }),
    codeMeaning: Type.String({ minLength: 1, maxLength: 64 }),
  },
  { additionalProperties: false },
);
export type Code = Static<typeof CodeSchema>;

export const SeriesRuleSchema = Type.Object(
  {
    modality: Type.String({
      minLength: 2,
      maxLength: 16,
      description: 'DICOM Modality (0008,0060), e.g. CT, MR.',
    }),
    bodyPartExamined: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description: 'Accepted BodyPartExamined (0018,0015) values; a series without the attribute passes.',
      }),
    ),
    seriesDescription: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Regular expression (case-insensitive) SeriesDescription must match.',
      }),
    ),
    excludeSeriesDescription: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Regular expression (case-insensitive) SeriesDescription must not match.',
      }),
    ),
    sliceThicknessMm: Type.Optional(
      Type.Object(
        { min: Type.Number({ exclusiveMinimum: 0 }), max: Type.Number({ exclusiveMinimum: 0 }) },
        { additionalProperties: false, description: 'Accepted SliceThickness (0018,0050) range, inclusive.' },
      ),
    ),
    minSlices: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Fewest images the series must have.' }),
    ),
  },
  { additionalProperties: false },
);
export type SeriesRule = Static<typeof SeriesRuleSchema>;

export const PreprocessStepSchema = Type.Union(
  [
    Type.Object(
      { op: Type.Literal('clip'), min: Type.Number(), max: Type.Number() },
      { additionalProperties: false, description: 'Clamp to [min, max] (a CT window).' },
    ),
    Type.Object(
      {
        op: Type.Literal('scale'),
        from: Type.Tuple([Type.Number(), Type.Number()]),
        to: Type.Tuple([Type.Number(), Type.Number()]),
      },
      {
        additionalProperties: false,
        description: 'Linear map of from[0]→to[0], from[1]→to[1] (no clamping).',
      },
    ),
    Type.Object(
      {
        op: Type.Literal('zscore'),
        over: Type.Union([Type.Literal('all'), Type.Literal('nonzero'), Type.Literal('above')], {
          description: "Voxels the statistics use: all, non-zero, or those above 'threshold'.",
        }),
        threshold: Type.Optional(Type.Number()),
        mean: Type.Optional(
          Type.Number({ description: 'Fixed mean (dataset statistics) instead of per volume.' }),
        ),
        std: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
      },
      { additionalProperties: false, description: '(x − mean) / std.' },
    ),
    Type.Object(
      {
        op: Type.Literal('percentile'),
        lower: Type.Number({ minimum: 0, maximum: 100 }),
        upper: Type.Number({ minimum: 0, maximum: 100 }),
        to: Type.Tuple([Type.Number(), Type.Number()]),
        clip: Type.Boolean(),
        over: Type.Optional(
          Type.Union([Type.Literal('all'), Type.Literal('above')], {
            description: 'Voxels the percentiles use.',
          }),
        ),
        threshold: Type.Optional(Type.Number()),
      },
      {
        additionalProperties: false,
        description: 'Map the lower/upper percentiles to `to`, optionally clamped.',
      },
    ),
  ],
  { description: 'One intensity step, applied in order after resampling.' },
);
export type PreprocessStep = Static<typeof PreprocessStepSchema>;

const TensorDtype = Type.Union([Type.Literal('float32'), Type.Literal('float16'), Type.Literal('uint8')]);

export const TensorSignatureSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    dtype: Type.String({ minLength: 1 }),
    shape: Type.Array(Type.Union([Type.Integer({ minimum: 1 }), Type.String()]), {
      description: 'Fixed sizes, or a symbolic name for a dynamic axis.',
    }),
  },
  { additionalProperties: false },
);

export const OutputChannelSchema = Type.Object(
  {
    index: Type.Integer({ minimum: 0 }),
    label: Type.String({ minLength: 1, maxLength: 64 }),
    colour: Type.Tuple(
      [
        Type.Integer({ minimum: 0, maximum: 255 }),
        Type.Integer({ minimum: 0, maximum: 255 }),
        Type.Integer({ minimum: 0, maximum: 255 }),
      ],
      { description: 'sRGB display colour (SEG RecommendedDisplayCIELabValue is derived from it).' },
    ),
    category: CodeSchema,
    type: CodeSchema,
    anatomicRegion: Type.Optional(CodeSchema),
    finding: Type.Boolean({
      description: 'Components of this channel become findings (false for background).',
    }),
  },
  { additionalProperties: false },
);
export type OutputChannel = Static<typeof OutputChannelSchema>;

export const AlertRuleSchema = Type.Object(
  {
    description: Type.String({ minLength: 1 }),
    minLongestDiameterMm: Type.Number({ minimum: 0 }),
    diameter: Type.Union([Type.Literal('axial'), Type.Literal('3d')], {
      description: 'Which longest diameter the size test uses: in the axial plane (RECIST-like) or 3-D.',
    }),
    minConfidence: Type.Number({ minimum: 0, maximum: 1 }),
    minCount: Type.Integer({
      minimum: 1,
      description: 'Findings that must pass for the study to be flagged.',
    }),
    labels: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), { description: 'Only these channels count.' }),
    ),
  },
  { additionalProperties: false },
);
export type AlertRule = Static<typeof AlertRuleSchema>;

export const EvaluationSummarySchema = Type.Object(
  {
    split: Type.String({ minLength: 1 }),
    resultsFile: Type.String({
      minLength: 1,
      description: 'Repository path of the committed benchmark JSON.',
    }),
    studies: Type.Integer({ minimum: 0 }),
    lesionsAtLeast10mm: Type.Integer({ minimum: 0 }),
    sensitivityAtLeast10mm: Type.Number({ minimum: 0, maximum: 1 }),
    sensitivityCi95: Type.Tuple([
      Type.Number({ minimum: 0, maximum: 1 }),
      Type.Number({ minimum: 0, maximum: 1 }),
    ]),
    falsePositivesPerStudy: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);

export const ModelManifestSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    schemaVersion: Type.Literal(1),
    id: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{1,62}$', description: 'Stable model id (folder name).' }),
    version: Type.String({
      pattern: '^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(-[0-9A-Za-z.-]+)?$',
      description: 'Semantic version (folder name).',
    }),
    name: Type.String({ minLength: 1, maxLength: 64, description: 'Also the SEG/SR algorithm name.' }),
    description: Type.String({ minLength: 1 }),
    creator: Type.Object(
      { name: Type.String({ minLength: 1 }), contact: Type.Optional(Type.String()) },
      { additionalProperties: false },
    ),
    licence: Type.String({ minLength: 1, description: 'SPDX identifier or licence text reference.' }),
    intendedUse: Type.String({ minLength: 1 }),
    clinicalUse: Type.Union([Type.Literal('not-for-clinical-use'), Type.Literal('cleared')]),
    label: Type.String({
      minLength: 1,
      description: `Shown with every output; "${NOT_FOR_CLINICAL_USE_LABEL}" until cleared.`,
    }),
    provenance: Type.Object(
      {
        trainingData: Type.String({ minLength: 1 }),
        trainingSeeds: Type.Array(Type.Integer()),
        buildCommand: Type.String({ minLength: 1 }),
        framework: Type.String({ minLength: 1 }),
        builtAt: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
    seriesSelection: Type.Array(SeriesRuleSchema, {
      minItems: 1,
      description: 'A series is processed when it matches any rule.',
    }),
    input: Type.Object(
      {
        name: Type.String({ minLength: 1, description: 'ONNX graph input name.' }),
        layout: Type.Literal('NCDHW'),
        dtype: TensorDtype,
        channels: Type.Integer({ minimum: 1, maximum: 1, description: 'One image channel (one series).' }),
        targetSpacingMm: Triple('Resample to this spacing (D, H, W) before inference.', 0.01),
        preprocessing: Type.Array(PreprocessStepSchema),
      },
      { additionalProperties: false },
    ),
    inference: Type.Object(
      {
        patchSize: IntTriple('Sliding-window size (D, H, W) in resampled voxels.'),
        overlap: Type.Number({
          minimum: 0,
          exclusiveMaximum: 1,
          description: 'Fraction shared by neighbouring windows.',
        }),
        blending: Type.Union([Type.Literal('gaussian'), Type.Literal('constant')]),
        sigmaScale: Type.Number({
          exclusiveMinimum: 0,
          description: 'Gaussian σ as a fraction of the patch (MONAI 0.125).',
        }),
        batchSize: Type.Integer({ minimum: 1, maximum: 64 }),
        padValue: Type.Number({
          description: 'Value (after preprocessing) used to pad a volume smaller than the patch.',
        }),
      },
      { additionalProperties: false },
    ),
    output: Type.Object(
      {
        name: Type.String({ minLength: 1, description: 'ONNX graph output name.' }),
        kind: Type.Union([Type.Literal('probabilities'), Type.Literal('labels'), Type.Literal('detections')]),
        activation: Type.Union([Type.Literal('none'), Type.Literal('sigmoid'), Type.Literal('softmax')], {
          description:
            'Applied to the network output before post-processing (none: it already outputs probabilities).',
        }),
        channels: Type.Array(OutputChannelSchema, { minItems: 1 }),
      },
      { additionalProperties: false },
    ),
    postprocessing: Type.Object(
      {
        threshold: Type.Number({ minimum: 0, maximum: 1 }),
        connectivity: Type.Union([Type.Literal(6), Type.Literal(26)]),
        minVolumeMm3: Type.Number({ minimum: 0 }),
        minVoxels: Type.Integer({ minimum: 1, description: 'In the resampled grid.' }),
        confidence: Type.Union([Type.Literal('max'), Type.Literal('mean')]),
      },
      { additionalProperties: false },
    ),
    alert: AlertRuleSchema,
    signature: Type.Object(
      { inputs: Type.Array(TensorSignatureSchema), outputs: Type.Array(TensorSignatureSchema) },
      { additionalProperties: false, description: 'ONNX graph I/O as exported (checked against the file).' },
    ),
    evaluation: Type.Array(EvaluationSummarySchema),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of model.onnx.' }),
  },
  { additionalProperties: false, $id: 'https://radlink.example/models/manifest.schema.json' },
);
export type ModelManifest = Static<typeof ModelManifestSchema>;

/** The JSON Schema document written to models/manifest.schema.json (TypeBox schemas are JSON Schema). */
export function manifestJsonSchema(): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(ModelManifestSchema as TSchema)) as Record<string, unknown>;
  return { $schema: 'http://json-schema.org/draft-07/schema#', title: 'RadLink AI model manifest', ...plain };
}
