/**
 * The model registry and lifecycle API (model managers and system admins): list, upload a new
 * version (multipart/form-data with a `manifest` part — manifest.json — and a `model` part —
 * model.onnx), enable, disable, shadow mode, rollback, and withdrawal of a disabled version's
 * results. An upload is checked here first (schema, hash, not already registered), stored in S3
 * (network by content hash), then fully validated by a worker with the same validator workers
 * use when they start (graph signature, dry run); only a valid model is registered, disabled.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyInstance } from 'fastify';
import { modelObjectKeys } from '../../../contracts/jobs.js';
import { type ModelManifest, ModelManifestSchema } from '../../../contracts/model-manifest.js';
import { MultipartError, MultipartRelatedParser } from '../dicomweb/multipart.js';
import { AppError } from '../plugins/errors.js';
import type { AiFlow } from './flow.js';
import type { ModelRegistry, ModelRow } from './registry.js';
import { ModelIdParams, ModelInfo, ModelParams } from './schemas.js';

/** Largest upload (manifest + network). */
const MAX_UPLOAD_BYTES = 512 * 1024 * 1024;
/** How long an upload waits for a worker's validation. */
const VALIDATE_TIMEOUT_MS = 120_000;

const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : null);

export function modelApi(m: ModelRow) {
  return {
    modelId: m.modelId,
    version: m.version,
    name: m.name,
    description: m.manifest.description,
    source: m.source,
    status: m.status,
    sha256: m.sha256,
    clinicalUse: m.manifest.clinicalUse,
    label: m.manifest.label,
    intendedUse: m.manifest.intendedUse,
    enabledAt: iso(m.enabledAt),
    resultsWithdrawnAt: iso(m.resultsWithdrawnAt),
    registeredAt: iso(m.registeredAt)!,
    updatedAt: iso(m.updatedAt)!,
  };
}

/** The named parts of a multipart/form-data body (same RFC 2046 body syntax as multipart/related). */
export function formParts(body: Buffer, contentType: string | undefined): Map<string, Buffer> {
  const m = /^multipart\/form-data\s*;.*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary)
    throw new AppError('RADLINK_UNSUPPORTED_MEDIA_TYPE', 'Send multipart/form-data with a boundary.');
  const parts = new Map<string, Buffer>();
  try {
    const parser = new MultipartRelatedParser(`multipart/related; boundary="${boundary}"`, {
      maxParts: 8,
      maxPartBytes: MAX_UPLOAD_BYTES,
    });
    const all = parser.push(body);
    parser.end();
    for (const p of all) {
      const name = /\bname="([^"]*)"/.exec(p.headers['content-disposition'] ?? '')?.[1];
      if (name) parts.set(name, p.body);
    }
  } catch (err) {
    if (err instanceof MultipartError) throw new AppError('RADLINK_BAD_REQUEST', err.reason);
    throw err;
  }
  return parts;
}

function problemsText(problems: Array<{ path: string; reason: string }>): string {
  return problems
    .slice(0, 20)
    .map((p) => `${p.path || '/'}: ${p.reason}`)
    .join('; ');
}

export default async function aiModelRoutes(
  fastify: FastifyInstance,
  opts: { registry: ModelRegistry; flow: AiFlow },
) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { registry, flow } = opts;
  app.addContentTypeParser(
    'multipart/form-data',
    { parseAs: 'buffer', bodyLimit: MAX_UPLOAD_BYTES },
    (_req, body, done) => done(null, body),
  );

  app.get(
    '/api/ai/models',
    {
      schema: {
        tags: ['ai'],
        summary: 'Registered AI model versions and their status.',
        response: { 200: Type.Array(ModelInfo) },
      },
    },
    async () => (await registry.list()).map(modelApi),
  );

  app.post(
    '/api/ai/models',
    {
      bodyLimit: MAX_UPLOAD_BYTES,
      schema: {
        tags: ['ai'],
        summary:
          'Upload a model version: multipart/form-data with parts "manifest" (manifest.json) and "model" (model.onnx). Registered disabled.',
        consumes: ['multipart/form-data'],
        response: { 201: ModelInfo },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const parts = formParts(request.body as Buffer, request.headers['content-type']);
      const manifestBytes = parts.get('manifest');
      const onnx = parts.get('model');
      if (!manifestBytes || !onnx)
        throw new AppError(
          'RADLINK_VALIDATION',
          'Send two parts: "manifest" (manifest.json) and "model" (model.onnx).',
        );
      let json: unknown;
      try {
        json = JSON.parse(manifestBytes.toString('utf8'));
      } catch {
        throw new AppError('RADLINK_VALIDATION', 'manifest is not JSON.');
      }
      const schemaProblems = [...Value.Errors(ModelManifestSchema, json)].map((e) => ({
        path: e.path,
        reason: e.message,
      }));
      if (schemaProblems.length)
        throw new AppError('RADLINK_VALIDATION', `Invalid manifest: ${problemsText(schemaProblems)}`);
      const m = json as ModelManifest;
      const sha = createHash('sha256').update(onnx).digest('hex');
      if (sha !== m.sha256)
        throw new AppError(
          'RADLINK_VALIDATION',
          `Invalid manifest: /sha256: model.onnx has SHA-256 ${sha}, the manifest says ${m.sha256}`,
        );
      if (await registry.exists(m.id, m.version))
        throw new AppError(
          'RADLINK_CONFLICT',
          `${m.id} ${m.version} is already registered; upload a new version.`,
        );
      const keys = modelObjectKeys(m.id, m.version, sha);
      const staging = `ai-upload-${randomUUID()}-manifest.json`;
      await app.s3.client.putObject(app.s3.bucket, keys.onnxKey, onnx);
      await app.s3.client.putObject(app.s3.bucket, staging, manifestBytes);
      try {
        let result: Awaited<ReturnType<AiFlow['validate']>>;
        try {
          result = await flow.validate(
            { manifestKey: staging, onnxKey: keys.onnxKey },
            staging.slice(10, 46),
            VALIDATE_TIMEOUT_MS,
          );
        } catch (err) {
          request.log.warn({ err: (err as Error).message }, 'model validation did not complete');
          throw new AppError(
            'RADLINK_UPSTREAM_UNAVAILABLE',
            'No AI worker validated the model in time; try again.',
          );
        }
        if (!result.ok)
          throw new AppError('RADLINK_VALIDATION', `Invalid model: ${problemsText(result.problems)}`);
        await app.s3.client.putObject(app.s3.bucket, keys.manifestKey, manifestBytes);
        request.auditDetail = { modelId: m.id, version: m.version, sha256: sha };
        return reply.code(201).send(modelApi(await registry.registerUploaded(m, p.userId)));
      } finally {
        await app.s3.client.removeObject(app.s3.bucket, staging).catch(() => undefined);
      }
    },
  );

  for (const [action, status] of [
    ['enable', 'enabled'],
    ['disable', 'disabled'],
    ['shadow', 'shadow'],
  ] as const)
    app.post(
      `/api/ai/models/:modelId/versions/:version/${action}`,
      {
        schema: {
          tags: ['ai'],
          summary:
            action === 'enable'
              ? 'Enable this version (the model’s other enabled version is disabled).'
              : action === 'shadow'
                ? 'Run this version in shadow mode: results stored, never shown to clinicians nor flagging.'
                : 'Disable this version: it no longer runs on new series.',
          params: ModelParams,
          response: { 200: ModelInfo },
        },
      },
      async (request) => {
        const { modelId, version } = request.params;
        request.auditDetail = { modelId, version, status };
        return modelApi(await registry.setStatus(modelId, version, status, request.principal!.userId));
      },
    );

  app.post(
    '/api/ai/models/:modelId/rollback',
    {
      schema: {
        tags: ['ai'],
        summary: 'Re-enable the version enabled before the current one.',
        params: ModelIdParams,
        response: { 200: ModelInfo },
      },
    },
    async (request) => {
      const row = await registry.rollback(request.params.modelId, request.principal!.userId);
      request.auditDetail = { modelId: row.modelId, version: row.version };
      return modelApi(row);
    },
  );

  app.post(
    '/api/ai/models/:modelId/versions/:version/withdraw',
    {
      schema: {
        tags: ['ai'],
        summary: 'Withdraw every result of a disabled version: hidden everywhere, study flags recomputed.',
        params: ModelParams,
        response: { 200: Type.Object({ runs: Type.Integer(), studies: Type.Integer() }) },
      },
    },
    async (request) => {
      const { modelId, version } = request.params;
      const r = await registry.withdraw(modelId, version, request.principal!.userId);
      request.auditDetail = { modelId, version, ...r };
      return r;
    },
  );
}
