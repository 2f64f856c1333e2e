/**
 * The desktop app's security rules (DESIGN.md section 7), as plain functions the main process
 * applies and unit tests check without Electron: the app:// origin the UI is served from, which
 * navigations are allowed (none away from it), which IPC senders are trusted, the CSP, and how an
 * app:// URL maps to a file of the built renderer.
 */
import path from 'node:path';

export const APP_SCHEME = 'app';
export const APP_HOST = 'atelier';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_ENTRY = `${APP_ORIGIN}/index.html`;

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

export function isAppUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST;
  } catch {
    return false;
  }
}

/** In-app navigation is allowed only within the app:// origin (a reload); nothing else. */
export function navigationAllowed(url: string): boolean {
  return isAppUrl(url);
}

/** The file of the built renderer an app:// URL names, or null if it is not one or escapes it. */
export function rendererFileFor(url: string, rendererDir: string): string | null {
  if (!isAppUrl(url)) return null;
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(url).pathname);
  } catch {
    return null;
  }
  if (pathname.includes('\0')) return null;
  const relative = pathname === '/' ? 'index.html' : pathname.replace(/^\/+/, '');
  const base = path.resolve(rendererDir);
  const file = path.resolve(base, relative);
  return file.startsWith(base + path.sep) ? file : null;
}

export interface SenderFacts {
  /** The sending frame's URL. */
  frameUrl: string | undefined;
  /** Whether the sender is the app's own window's main frame. */
  isMainWindow: boolean;
}

/** IPC is accepted only from the app's window, from a page of the app:// origin. */
export function senderTrusted(facts: SenderFacts): boolean {
  return facts.isMainWindow && facts.frameUrl !== undefined && isAppUrl(facts.frameUrl);
}
