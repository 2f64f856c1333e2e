/**
 * The web shell's access rules: a random per-run token must come with every HTTP request and
 * with the WebSocket upgrade (in the `token` query parameter, or in the HttpOnly cookie the
 * first authorized page load sets), the Host header must name this loopback server (against DNS
 * rebinding), and a browser's WebSocket Origin must be this server.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class WebAuth {
  constructor(
    readonly token: string,
    private listenPort = 0,
  ) {}

  /** Set once the server listens (the port may have been chosen by the OS). */
  setPort(port: number): void {
    this.listenPort = port;
  }

  port(): number {
    return this.listenPort;
  }

  get cookieName(): string {
    return `atelier_token_${this.listenPort}`;
  }

  private allowedHosts(): string[] {
    return [`127.0.0.1:${this.listenPort}`, `localhost:${this.listenPort}`];
  }

  hostAllowed(req: IncomingMessage): boolean {
    return this.allowedHosts().includes(req.headers.host ?? '');
  }

  originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true; // not a browser: the token alone decides
    return this.allowedHosts().some((h) => origin === `http://${h}`);
  }

  /** 'query' when the token came in the URL (the page should then set the cookie). */
  tokenSource(req: IncomingMessage): 'query' | 'cookie' | null {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const query = url.searchParams.get('token');
    if (query !== null && sameSecret(query, this.token)) return 'query';
    const cookie = parseCookies(req.headers.cookie ?? '').get(this.cookieName);
    if (cookie !== undefined && sameSecret(cookie, this.token)) return 'cookie';
    return null;
  }

  /** Why a request is refused, or null when it may proceed. */
  refusal(req: IncomingMessage, websocket: boolean): string | null {
    if (!this.hostAllowed(req)) return 'this server answers only to 127.0.0.1 and localhost';
    if (websocket && !this.originAllowed(req)) return 'cross-origin WebSocket refused';
    if (!this.tokenSource(req)) return 'missing or wrong token: open the URL that Atelier printed when it started';
    return null;
  }

  setCookieHeader(): string {
    return `${this.cookieName}=${this.token}; HttpOnly; SameSite=Strict; Path=/`;
  }
}

function parseCookies(header: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}
