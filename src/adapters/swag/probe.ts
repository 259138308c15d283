import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface ProxyAnswer {
  status: number;
  /** The `X-Jellyfin-Backend` response header as sent, or null. */
  backendHeader: string | null;
}

/**
 * One GET through the proxy, reading only the status and the `X-Jellyfin-Backend` header. A fresh connection each
 * time (no keep-alive), so each answer comes from nginx's current workers. For https, the certificate is not
 * verified for this request only: SWAG's certificate often does not match the address the service uses on the
 * LAN, and the request carries no credentials; its answer only confirms where nginx routes.
 */
export function getThroughProxy(url: string, timeoutMs: number): Promise<ProxyAnswer> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'GET',
        agent: false,
        timeout: timeoutMs,
        headers: { accept: 'application/json', 'cache-control': 'no-cache', connection: 'close' },
        ...(target.protocol === 'https:' ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        const header = res.headers['x-jellyfin-backend'];
        res.resume();
        res.on('error', () => undefined);
        resolve({
          status: res.statusCode ?? 0,
          backendHeader: Array.isArray(header) ? header.join(', ') : (header ?? null),
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
