/**
 * Checks the delivered copies of a signed report against its delivery record: the PDF in S3,
 * the Encapsulated PDF and the Basic Text SR in Orthanc. Each copy is judged on its own (valid,
 * tampered, missing, pending, or unavailable when its store cannot be reached), so verification
 * names the copy that was altered, and an outage never turns into a failed verification.
 */
import { createHash } from 'node:crypto';
import { orthancInstancesOf, storedSha256 } from '../../dicomweb/orthanc-files.js';
import { AppError } from '../../plugins/errors.js';
import type { OrthancClient } from '../../plugins/orthanc.js';
import { sha256Hex } from '../canonical.js';
import type { CopiesVerdict, CopyVerdict } from '../reports.js';
import type { ReportRow } from '../reports-repo.js';
import type { DeliveryRepo, DeliveryRow } from './delivery-repo.js';
import { ENCAPSULATED_PDF_STORAGE, extractEncapsulatedPdf } from './encapsulated-pdf.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface CopyVerifierDeps {
  deliveries: DeliveryRepo;
  orthanc: OrthancClient;
  /** The PDF object's bytes (null when S3 has none; a 503 AppError when S3 is unreachable). */
  pdfObject(row: DeliveryRow): Promise<Buffer | null>;
}

export class CopyVerifier {
  constructor(private readonly d: CopyVerifierDeps) {}

  /**
   * Checks what S3 and Orthanc hold now against the delivery record. Each copy is judged on
   * its own, so the verdict names which one was altered.
   */
  async verify(r: ReportRow): Promise<CopiesVerdict> {
    const row = await this.d.deliveries.byReport(r.id);
    // A store that cannot be reached leaves that copy unjudged; it never fails the record's verification.
    const unavailable =
      (what: string) =>
      (e: unknown): CopyVerdict => {
        if (!(e instanceof AppError) || e.code !== 'RADLINK_UPSTREAM_UNAVAILABLE') throw e;
        return {
          status: 'unavailable',
          reason: `The ${what} cannot be checked now: ${e.message}`,
          sha256: null,
        };
      };
    const pending = (what: string): CopyVerdict => ({
      status: 'pending',
      reason: `The ${what} has not been made yet.`,
      sha256: null,
    });
    if (!row) return { pdf: pending('PDF'), dicom: pending('DICOM copy'), sr: pending('SR copy') };
    const bound =
      row.contentHash === r.contentHash && row.signatureSha256 === sha256Hex(r.sigSignature ?? '')
        ? null
        : 'The delivery record names another signed content or signature.';

    const checkPdf = async (): Promise<CopyVerdict> => {
      const bytes = await this.d.pdfObject(row);
      if (!bytes) return { status: 'missing', reason: 'The PDF is missing from S3.', sha256: null };
      const h = sha256(bytes);
      if (bound !== null) return { status: 'tampered', reason: bound, sha256: h };
      return h === row.pdfSha256
        ? { status: 'valid', reason: 'The PDF matches its SHA-256 recorded at signing.', sha256: h }
        : { status: 'tampered', reason: 'The PDF differs from the one recorded at signing.', sha256: h };
    };
    /** Every object Orthanc holds under the UID must be the recorded bytes. */
    const checkInstance = async (
      uid: string | null,
      recorded: string | null,
      what: string,
      explain: (orthancId: string, sha: string) => Promise<CopyVerdict>,
    ): Promise<CopyVerdict> => {
      if (!uid || !recorded) return pending(what);
      const ids = await orthancInstancesOf(this.d.orthanc, uid);
      if (ids.length === 0)
        return { status: 'missing', reason: `The ${what} is not in the study.`, sha256: null };
      const hashes = await Promise.all(ids.map((id) => storedSha256(this.d.orthanc, id)));
      if (bound !== null) return { status: 'tampered', reason: bound, sha256: hashes[0]! };
      const other = hashes.find((h) => h !== recorded);
      if (other === undefined)
        return { status: 'valid', reason: `The ${what} matches its recorded SHA-256.`, sha256: hashes[0]! };
      return explain(ids[hashes.indexOf(other)]!, other);
    };
    const [pdf, dicom, sr] = await Promise.all([
      checkPdf().catch(unavailable('PDF')),
      checkInstance(row.dicomSopInstanceUid, row.dicomSha256, 'DICOM copy', (id, sha) =>
        this.explainDicom(id, sha, row),
      ).catch(unavailable('DICOM copy')),
      checkInstance(row.srSopInstanceUid, row.srSha256, 'SR copy', async (_id, sha) => ({
        status: 'tampered',
        reason: 'The SR copy differs from the one stored at signing.',
        sha256: sha,
      })).catch(unavailable('SR copy')),
    ]);
    return { pdf, dicom, sr };
  }

  /** Says what differs in an altered DICOM copy: the embedded PDF, or the DICOM attributes. */
  private async explainDicom(orthancId: string, sha: string, row: DeliveryRow): Promise<CopyVerdict> {
    const res = await this.d.orthanc.request('GET', `/instances/${orthancId}/file`);
    const file = Buffer.from(await res.body.arrayBuffer());
    const inner = res.statusCode === 200 ? extractEncapsulatedPdf(file) : null;
    const reason =
      inner === null
        ? `The DICOM copy is no longer an Encapsulated PDF (${ENCAPSULATED_PDF_STORAGE}).`
        : sha256(inner) !== row.pdfSha256
          ? 'The PDF inside the DICOM copy differs from the signed PDF.'
          : 'The DICOM copy differs from the one stored at signing (its attributes were changed).';
    return { status: 'tampered', reason, sha256: sha };
  }
}
