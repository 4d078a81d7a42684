/**
 * dicom-parser is a UMD bundle: Node's ESM loader cannot see its named exports, and its typings
 * declare no default export. It is loaded once here through createRequire and typed by its own
 * declarations.
 */
import { createRequire } from 'node:module';

type DicomParserModule = typeof import('dicom-parser');

export type { DataSet, Element } from 'dicom-parser';

export const dicomParser = createRequire(import.meta.url)('dicom-parser') as DicomParserModule;
