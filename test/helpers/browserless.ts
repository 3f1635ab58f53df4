import { httpRequest, type HttpResult } from './http-client.js';
import { canonical } from './markup.js';

/**
 * A cookie-keeping HTTP client that behaves like a browser on our site: it sends
 * Host and Origin, keeps cookies from Set-Cookie, and fills in the CSRF token
 * from the last page it fetched.
 */
/** A form's fields: by name, or as pairs, in order, where a name repeats (checkboxes). */
export type FormFields = Record<string, string> | [string, string][];

export class BrowserlessClient {
  readonly cookies = new Map<string, string>();
  lastPage = '';

  constructor(readonly port: number) {}

  get origin(): string {
    return `http://localhost:${this.port}`;
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<HttpResult> {
    const result = await httpRequest(this.port, path, {
      headers: { ...this.cookieHeader(), ...headers },
    });
    this.keep(result);
    this.lastPage = result.body.toString();
    return result;
  }

  /**
   * POSTs a urlencoded form (`fields` as pairs where a name repeats);
   * `csrf: true` adds the token of the last page fetched.
   */
  async post(
    path: string,
    fields: FormFields,
    options: { csrf?: boolean; headers?: Record<string, string> } = {},
  ): Promise<HttpResult> {
    return this.postBody(path, this.formBody(fields, options), options);
  }

  /**
   * A form's urlencoded body, with the token of the last page fetched unless
   * `csrf: false`: made apart from postBody when a test measures the request, not
   * the encoding of megabytes.
   */
  formBody(fields: FormFields, options: { csrf?: boolean } = {}): Buffer {
    const form = new URLSearchParams(fields);
    if (options.csrf ?? true) {
      const token = this.formToken();
      if (token && !form.has('csrfmiddlewaretoken')) form.set('csrfmiddlewaretoken', token);
    }
    return Buffer.from(form.toString());
  }

  /** POSTs a body from formBody, as a browser sends a form. */
  async postBody(
    path: string,
    body: Buffer,
    options: { headers?: Record<string, string> } = {},
  ): Promise<HttpResult> {
    const result = await httpRequest(this.port, path, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: this.origin,
        ...this.cookieHeader(),
        ...options.headers,
      },
      body,
    });
    this.keep(result);
    this.lastPage = result.body.toString();
    return result;
  }

  /** POSTs `form` encoded as a browser encodes a FormData (multipart), with no token added. */
  async postMultipart(path: string, form: FormData): Promise<HttpResult> {
    const encoded = new Response(form);
    return this.postBody(path, Buffer.from(await encoded.arrayBuffer()), {
      headers: { 'content-type': encoded.headers.get('content-type')! },
    });
  }

  /**
   * GETs a form's page (for its CSRF token), then POSTs the form to it, as a
   * browser does; a page that is not the form (not 200) fails at once.
   */
  async submit(path: string, fields: Record<string, string>): Promise<HttpResult> {
    const page = await this.get(path);
    if (page.status !== 200) throw new Error(`GET ${path}: ${page.status}, not the form`);
    return this.post(path, fields);
  }

  /** Logs in through the real form; resolves with the POST's response. */
  async login(username: string, password: string, next = '/'): Promise<HttpResult> {
    await this.get(`/accounts/login/?next=${encodeURIComponent(next)}`);
    return this.post('/accounts/login/', { username, password, next });
  }

  /** The masked token in the last page's form, as a browser would submit it. */
  formToken(): string | undefined {
    return /name="csrfmiddlewaretoken" value="([A-Za-z0-9]+)"/.exec(canonical(this.lastPage))?.[1];
  }

  cookieHeader(): Record<string, string> {
    if (this.cookies.size === 0) return {};
    return { cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ') };
  }

  private keep(result: HttpResult): void {
    const setCookies = result.headers['set-cookie'] ?? [];
    for (const line of Array.isArray(setCookies) ? setCookies : [setCookies]) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0$/i.test(a)) || value === '';
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}
