import busboy from 'busboy';
import { BadRequest, MAX_FORM_FIELDS, SuspiciousOperation } from './request.js';
import type { Middleware } from './router.js';

/** Django's DATA_UPLOAD_MAX_NUMBER_FILES: file parts a form may carry, though none is kept. */
const MAX_FORM_FILES = 100;
/** The body goes to the parser in pieces, so that a limit reached stops the work. */
const CHUNK_BYTES = 64 * 1024;

/**
 * Reads a multipart/form-data POST (what a page's `FormData` or `curl -F` sends)
 * into the request's form, as Django's request.POST holds it, before the CSRF
 * check looks for the token there. Placed inside the security headers, so that
 * its 400 for a body that is no valid form carries them like any page.
 */
export function multipartForms(): Middleware {
  return async (request, next) => {
    if (
      request.method === 'POST' &&
      request.body.length > 0 &&
      request.mediaType === 'multipart/form-data'
    )
      request.setForm(await parseMultipartForm(request.body, request.headers.get('content-type')!));
    return next();
  };
}

/**
 * The fields of a multipart body. File parts are read past and left out: nothing
 * here accepts uploads, as a Django view ignores request.FILES it does not use.
 * Django's limits apply (1000 fields, 100 files): past either, BadRequest at once.
 */
async function parseMultipartForm(body: Buffer, contentType: string): Promise<URLSearchParams> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': contentType },
      limits: {
        fields: MAX_FORM_FIELDS,
        files: MAX_FORM_FILES,
        // busboy counts the closing boundary as a part, and stops when it reaches this.
        parts: MAX_FORM_FIELDS + MAX_FORM_FILES + 1,
        fieldSize: body.length,
      },
      defParamCharset: 'utf8',
    });
  } catch (error) {
    throw new BadRequest(`not a multipart form: ${(error as Error).message}`);
  }
  const fields = new URLSearchParams();
  let failure: BadRequest | undefined;
  const fail = (reason: string): void => {
    failure ??= new BadRequest(reason);
  };
  // Past a limit is what Django takes for tampering, and logs as such.
  const refuse = (kind: 'TooManyFieldsSent' | 'TooManyFilesSent', reason: string): void => {
    failure ??= new SuspiciousOperation(kind, reason);
  };
  // A part with no name is no field (Django skips it too).
  parser.on('field', (name: string | undefined, value) => {
    if (name !== undefined) fields.append(name, value);
  });
  // A file part cut short errors on its own stream: unheard, that would end the process.
  parser.on('file', (_name, stream) => stream.on('error', () => undefined).resume());
  parser.on('fieldsLimit', () =>
    refuse('TooManyFieldsSent', `a form may have at most ${MAX_FORM_FIELDS} fields`),
  );
  parser.on('filesLimit', () =>
    refuse('TooManyFilesSent', `a form may have at most ${MAX_FORM_FILES} files`),
  );
  parser.on('partsLimit', () =>
    refuse(
      'TooManyFieldsSent',
      `a form may have at most ${MAX_FORM_FIELDS + MAX_FORM_FILES} parts`,
    ),
  );
  const done = new Promise<void>((resolve) => {
    parser.on('close', resolve);
    parser.on('error', (error: Error) => {
      fail(`a malformed multipart form: ${error.message}`);
      resolve();
    });
  });
  for (let offset = 0; offset < body.length && !failure; offset += CHUNK_BYTES) {
    await new Promise<void>((resolve) =>
      parser.write(body.subarray(offset, offset + CHUNK_BYTES), () => resolve()),
    );
  }
  if (!failure) {
    parser.end();
    await done;
  }
  if (failure) {
    parser.destroy();
    throw failure;
  }
  return fields;
}
