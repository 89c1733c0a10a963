// The HTTP API, with the token in the Authorization header only (never in a URL). Every failure
// becomes an ApiError carrying the server's code and its sentence for people.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const UNREACHABLE = 'The server can’t be reached; check your connection. Longhall keeps trying.';

export class Api {
  constructor(token = null) {
    this.token = token;
    /** Called when the token stops working (revoked, expired). */
    this.onUnauthenticated = () => {};
  }

  headers(extra = {}) {
    const h = { ...extra };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  async call(method, path, { query, body } = {}) {
    const url = withQuery(`/api/v1${path}`, query);
    const init = { method, headers: this.headers() };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(url, init);
    } catch {
      throw new ApiError(0, 'unreachable', UNREACHABLE);
    }
    return this.answer(res);
  }

  async answer(res) {
    if (res.ok) {
      if (res.status === 204) return null;
      const type = res.headers.get('Content-Type') || '';
      return type.includes('json') ? res.json() : res.blob();
    }
    let code = 'internal';
    let message = `The server answered ${res.status}.`;
    try {
      const e = await res.json();
      code = e.code || code;
      message = e.message || message;
    } catch { /* not JSON: keep the status */ }
    if (code === 'unauthenticated' && this.token) this.onUnauthenticated(message);
    throw new ApiError(res.status, code, message);
  }

  get(path, query) { return this.call('GET', path, { query }); }
  post(path, body) { return this.call('POST', path, { body: body ?? {} }); }
  put(path, body) { return this.call('PUT', path, { body }); }
  patch(path, body) { return this.call('PATCH', path, { body }); }
  del(path) { return this.call('DELETE', path); }

  /** Uploads a file to a room with progress (0..1) reports; resolves to the FileRef. */
  upload(room, file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', withQuery(`/api/v1/rooms/${room}/files`, { name: file.name }));
      xhr.setRequestHeader('Authorization', `Bearer ${this.token}`);
      xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
      xhr.onerror = () => reject(new ApiError(0, 'unreachable', UNREACHABLE));
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch { /* empty */ }
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(new ApiError(xhr.status, body?.code || 'internal', body?.message || `The server answered ${xhr.status}.`));
      };
      xhr.send(file);
    });
  }

  /** Downloads a file with the token in a header and hands it to the browser as a blob. */
  async download(fileRef) {
    let res;
    try {
      res = await fetch(`/api/v1/files/${fileRef.id}`, { headers: this.headers() });
    } catch {
      throw new ApiError(0, 'unreachable', UNREACHABLE);
    }
    const blob = await this.answer(res);
    const url = URL.createObjectURL(blob instanceof Blob ? blob : new Blob([JSON.stringify(blob)]));
    const a = document.createElement('a');
    a.href = url;
    a.download = fileRef.name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
}

export function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s ? `${path}?${s}` : path;
}
