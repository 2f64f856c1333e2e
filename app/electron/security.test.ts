import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_ENTRY, CONTENT_SECURITY_POLICY, navigationAllowed, rendererFileFor, senderTrusted } from './security.js';

describe('desktop security rules', () => {
  it('allows navigation only within the app:// origin', () => {
    expect(navigationAllowed(APP_ENTRY)).toBe(true);
    expect(navigationAllowed('app://atelier/index.html#x')).toBe(true);
    for (const url of ['https://example.com', 'file:///etc/passwd', 'app://other/index.html', 'javascript:alert(1)', 'not a url']) {
      expect(navigationAllowed(url)).toBe(false);
    }
  });

  it('maps app:// URLs to renderer files and nothing outside them', () => {
    const dir = path.resolve('/opt/atelier/renderer');
    expect(rendererFileFor('app://atelier/', dir)).toBe(path.join(dir, 'index.html'));
    expect(rendererFileFor('app://atelier/assets/app.js', dir)).toBe(path.join(dir, 'assets', 'app.js'));
    expect(rendererFileFor('app://atelier/../../etc/passwd', dir)).toBe(path.join(dir, 'etc', 'passwd')); // URL parsing normalizes
    expect(rendererFileFor('app://atelier/..%2f..%2fetc%2fpasswd', dir)).toBeNull();
    expect(rendererFileFor('app://atelier/%00', dir)).toBeNull();
    expect(rendererFileFor('https://atelier/index.html', dir)).toBeNull();
  });

  it('trusts IPC only from the main window on the app origin', () => {
    expect(senderTrusted({ frameUrl: APP_ENTRY, isMainWindow: true })).toBe(true);
    expect(senderTrusted({ frameUrl: 'https://evil.example/', isMainWindow: true })).toBe(false);
    expect(senderTrusted({ frameUrl: APP_ENTRY, isMainWindow: false })).toBe(false);
    expect(senderTrusted({ frameUrl: undefined, isMainWindow: true })).toBe(false);
  });

  it('has a CSP without inline scripts, eval or remote sources', () => {
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-eval|script-src[^;]*unsafe-inline|https?:/);
    expect(CONTENT_SECURITY_POLICY).toContain("object-src 'none'");
  });
});
