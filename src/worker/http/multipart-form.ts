import busboy from 'busboy';

/** A multipart/form-data body that cannot be read as a form. */
export class MalformedMultipartForm extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedMultipartForm';
  }
}

/**
 * The fields of a multipart/form-data body (what a page's `FormData` or
 * `curl -F` sends), as Django's request.POST holds them. File parts are read
 * past and left out: nothing here accepts uploads, as a Django view ignores
 * request.FILES it does not use. The body is whole already (Thyme caps its size).
 */
export function parseMultipartForm(
  body: Buffer,
  contentType: string,
  maxFields: number,
): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const fields = new URLSearchParams();
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: { 'content-type': contentType },
        limits: { fields: maxFields, fieldSize: body.length },
        defParamCharset: 'utf8',
      });
    } catch (error) {
      reject(new MalformedMultipartForm((error as Error).message));
      return;
    }
    parser.on('field', (name, value) => fields.append(name, value));
    parser.on('file', (_name, stream) => stream.resume());
    parser.on('fieldsLimit', () =>
      reject(new MalformedMultipartForm(`a form may have at most ${maxFields} fields`)),
    );
    parser.on('error', (error: Error) => reject(new MalformedMultipartForm(error.message)));
    parser.on('close', () => resolve(fields));
    parser.end(body);
  });
}
