import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { htmlText, UrlFetcher, type FetchSettings } from '../fetch-url.js';

const base: FetchSettings = { maxBytes: 64 * 1024, maxChars: 12_000, maxRedirects: 2, timeoutMs: 5_000, allowNetworks: [] };

describe('fetch_url', () => {
  let server: Server;
  let origin = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/page') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<html><head><style>p{}</style><script>evil()</script></head><body><h1>Title</h1><p>Fish &amp; chips</p></body></html>');
      if (url.pathname === '/big') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(200_000));
      if (url.pathname === '/hop') return void res.writeHead(302, { location: `/hop?n=${Number(url.searchParams.get('n') ?? 0) + 1}` }).end();
      if (url.pathname === '/to-metadata') return void res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      if (url.pathname === '/image') return void res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(10));
      res.writeHead(404, { 'content-type': 'text/plain' }).end('nothing here');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const signal = () => new AbortController().signal;

  it('refuses loopback by default, by IP and by name', async () => {
    const fetcher = new UrlFetcher(base);
    await expect(fetcher.fetch(`${origin}/page`, signal())).rejects.toThrow(/127\.0\.0\.1 is a private, loopback or reserved address/);
    const port = new URL(origin).port;
    await expect(fetcher.fetch(`http://localhost:${port}/page`, signal())).rejects.toThrow(/localhost resolves to .*loopback/);
    await fetcher.close();
  });

  it('refuses what is not http(s), and URLs with credentials', async () => {
    const fetcher = new UrlFetcher(base);
    await expect(fetcher.fetch('file:///etc/passwd', signal())).rejects.toThrow(/file: URLs are not fetched/);
    await expect(fetcher.fetch('http://user:pw@example.com/', signal())).rejects.toThrow(/credentials/);
    await expect(fetcher.fetch('not a url', signal())).rejects.toThrow(/is not a URL/);
    await fetcher.close();
  });

  describe('with the test server opened (allow_networks)', () => {
    const open = { ...base, allowNetworks: ['127.0.0.1/32'] };

    it('reads a page as text: scripts and styles gone, entities decoded', async () => {
      const fetcher = new UrlFetcher(open);
      const page = await fetcher.fetch(`${origin}/page`, signal());
      expect(page).toEqual({ url: `${origin}/page`, status: 200, contentType: 'text/html', text: 'Title\nFish & chips', truncated: false });
      await fetcher.close();
    });

    it('stops reading at max_bytes and says it cut', async () => {
      const fetcher = new UrlFetcher({ ...open, maxBytes: 1024, maxChars: 100_000 });
      const page = await fetcher.fetch(`${origin}/big`, signal());
      expect((page['text'] as string).length).toBe(1024);
      expect(page['truncated']).toBe(true);
      await fetcher.close();
    });

    it('follows at most max_redirects, and checks every hop: a redirect to the metadata address is refused', async () => {
      const fetcher = new UrlFetcher(open);
      await expect(fetcher.fetch(`${origin}/hop`, signal())).rejects.toThrow(/more than 2 redirects/);
      await expect(fetcher.fetch(`${origin}/to-metadata`, signal())).rejects.toThrow(/169\.254\.169\.254 is a private/);
      await fetcher.close();
    });

    it('refuses a body that is not text', async () => {
      const fetcher = new UrlFetcher(open);
      await expect(fetcher.fetch(`${origin}/image`, signal())).rejects.toThrow(/image\/png, not text/);
      await fetcher.close();
    });
  });

  it('reduces HTML to its visible text', () => {
    expect(htmlText('<p>a<br>b</p><!-- c --><div>d&nbsp;e &#8364;</div>')).toBe('a\nb\nd e €');
  });
});
